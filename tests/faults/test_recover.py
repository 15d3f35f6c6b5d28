"""`loadkit faults recover` on entries it can never clear, and what it never writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from loadkit.faults.backends.base import BackendContext
from loadkit.faults.journal import RUN_PID_ENV, RUN_PROXY_API_ENV, FaultJournal
from loadkit.faults.model import parse_faults

DEAD_API = "http://127.0.0.1:9"  # nothing listens: the run's proxy is gone


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _journal_a_toxic(tmp_path, monkeypatch, run_pid: int):
    monkeypatch.setenv(RUN_PID_ENV, str(run_pid))
    monkeypatch.setenv(RUN_PROXY_API_ENV, DEAD_API)
    (spec,) = parse_faults(
        [{"name": "slow", "at": "0s", "for": "1m", "kind": "latency", "latency": "100ms"}],
        source="t",
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_text('{"t": 1, "type": "run_start"}\n')
    journal = FaultJournal(
        run_dir, BackendContext(proxy_api=DEAD_API, proxy_name="gateway"), tmp_path / "index"
    )
    journal.add(spec)
    lines = journal.index_path.read_text().splitlines()
    entries = [dict(json.loads(line), owner_pid=_dead_pid()) for line in lines]
    journal.index_path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return run_dir


def _recover(tmp_path):
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "faults", "recover", "--index", str(tmp_path / "index")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_fault_on_a_proxy_that_died_with_its_run_is_closed_with_a_note(tmp_path, monkeypatch):
    run_dir = _journal_a_toxic(tmp_path, monkeypatch, run_pid=_dead_pid())
    events = (run_dir / "events.jsonl").read_bytes()
    out = _recover(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "closed   slow (latency)" in out.stdout and "ended with it" in out.stdout
    assert not list((tmp_path / "index").glob("*.journal"))
    assert (run_dir / "events.jsonl").read_bytes() == events  # a finished run is never written
    again = _recover(tmp_path)
    assert again.returncode == 0 and "no active faults" in again.stdout


def test_while_its_run_lives_a_failing_revert_stays_a_failure(tmp_path, monkeypatch):
    _journal_a_toxic(tmp_path, monkeypatch, run_pid=os.getpid())  # "the run" is still running
    out = _recover(tmp_path)
    assert out.returncode == 3 and "FAILED   slow (latency)" in out.stdout, out.stdout
    assert list((tmp_path / "index").glob("*.journal"))  # kept: it may work later
