"""`exec` faults in real `loadkit run`s: the revert runs on a normal end, on Ctrl-C, and
through `loadkit faults recover` after a kill -9 of Locust; a command that hangs is
killed at its timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_helpers import kill_tree, read_events, wait_until

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext
from loadkit.faults.backends.exec import ExecBackend
from loadkit.faults.model import parse_faults

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

LOADKIT = [sys.executable, "-m", "loadkit"]
APPEND = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10))"


def scenario(tmp_path: Path, log: Path, seconds: int) -> Path:
    fault = {
        "name": "fill",
        "at": "1s",
        "kind": "exec",
        "command": [sys.executable, "-c", APPEND, str(log), "inject"],
        "revert": [sys.executable, "-c", APPEND, str(log), "revert"],
        "timeout": "20s",
    }
    data = {
        "name": "exec-run",
        "users": {"WorkspaceUser": 1},
        "stages": [{"duration": f"{seconds}s", "users": 1}],
        "options": {"ws-tasks": "echo:1"},
        "faults": [fault],  # no 'for': active until the run ends
    }
    path = tmp_path / "exec-run.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def start(tmp_path: Path, seconds: int) -> tuple[subprocess.Popen[bytes], Path, Path]:
    log = tmp_path / "exec.log"
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [*LOADKIT, "run", str(scenario(tmp_path, log, seconds)), "--out", str(out)],
        stdout=(tmp_path / "run.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, log, out


def run_dir_of(out: Path) -> Path:
    (run_dir,) = out.iterdir()
    return run_dir


def test_the_revert_runs_at_the_normal_end(tmp_path):
    proc, log, out = start(tmp_path, 4)
    try:
        assert proc.wait(timeout=180) == 0, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        kill_tree(proc)
    assert lines(log) == ["inject", "revert"]
    (revert,) = read_events(run_dir_of(out), "fault_revert")
    assert revert["reason"] == "stop" and revert["ok"] is True


def test_the_revert_runs_on_ctrl_c(tmp_path):
    proc, log, out = start(tmp_path, 120)
    try:
        wait_until(lambda: lines(log) == ["inject"], timeout=120, what="the inject command")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        kill_tree(proc)
    assert lines(log) == ["inject", "revert"]
    (revert,) = read_events(run_dir_of(out), "fault_revert")
    assert revert["reason"] in ("signal", "stop") and revert["ok"] is True


def test_faults_recover_runs_the_revert_after_a_kill_9(tmp_path, fault_index, target_factory):
    """Plain Locust (no `loadkit run`, whose janitor would revert at once) killed with -9."""
    target = target_factory()
    log = tmp_path / "exec.log"
    plan = scenario(tmp_path, log, 120)
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, PYTHONPATH=str(root), LOADKIT_FAULTS_INDEX=str(fault_index))
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "locust", "-f", str(root / "locustfiles" / "workspace.py"),
            "--headless", "--host", target.url, "-u", "1", "-r", "1", "-t", "120s",
            "--loadkit-faults", str(plan), "--loadkit-out", str(out), "--skip-log-setup",
        ],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: lines(log) == ["inject"], timeout=120, what="the inject command")
        journal = wait_until(lambda: sorted(fault_index.glob("*.journal")), what="the journal")
        (entry,) = [json.loads(line) for line in journal[0].read_text().splitlines()]
        assert entry["spec"]["via"] == "exec" and entry["owner_pid"] == proc.pid
        kill_tree(proc)  # kill -9 of the Locust process that owns the fault
    finally:
        kill_tree(proc)
    time.sleep(0.5)
    assert lines(log) == ["inject"]  # nobody reverted it
    recover = subprocess.run(
        [*LOADKIT, "faults", "recover"], capture_output=True, text=True, timeout=120, env=env
    )
    assert recover.returncode == 0, recover.stdout + recover.stderr
    assert "reverted fill (exec)" in recover.stdout
    assert lines(log) == ["inject", "revert"]
    assert not sorted(fault_index.glob("*.journal"))  # nothing left to recover


def test_a_command_that_outlives_its_timeout_is_killed_and_fails(tmp_path):
    (spec,) = parse_faults(
        [
            {
                "name": "hang",
                "at": 0,
                "kind": "exec",
                "command": [sys.executable, "-c", "import time; time.sleep(60)"],
                "timeout": "500ms",
            }
        ]
    )
    started = time.monotonic()
    with pytest.raises(FaultError, match=r"did not finish within 0\.5s"):
        ExecBackend(BackendContext()).inject(spec)
    assert time.monotonic() - started < 10
    (failing,) = parse_faults(
        [{"name": "no", "at": 0, "kind": "exec", "command": [sys.executable, "-c", "exit(3)"]}]
    )
    with pytest.raises(FaultError, match="exited 3"):
        ExecBackend(BackendContext()).inject(failing)
    assert spec.instant and failing.instant  # no revert: nothing to journal
