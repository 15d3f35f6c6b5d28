"""Every test started from the web UI gets its own run directory and its own report.

Regression (issue 15): only the first test of a web-UI session got a report
(``loadkit run --web`` followed the first new run dir only), pressing Stop wrote
none, and the second test printed no progress or fault lines. Real processes:
``loadkit run --web`` with the built-in target, driven through Locust's HTTP API:
a test that runs to the end of its plan (the web UI's equivalent of ``--run-time``:
with a scenario's stages Locust's run-time field is the shape's), two ended by Stop,
one by Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from loadkit.errors import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCENARIO = """\
name: webtwice
target: builtin
users: {WorkspaceUser: 1}
stages:
  - {name: steady, duration: 12s, users: 2, spawn_rate: 2}
faults:
  - {name: blip, at: 1s, for: 1s, kind: app-latency, via: http, path: /execute, latency: 50ms}
checks:
  - count > 0
"""
INJECTED = "fault 'blip' (app-latency) injected"
REVERTED = "fault 'blip' reverted"


def _wait_for(predicate, timeout_s: float, what: str, output: list[str]):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n" + "".join(output[-60:]))


def _requests_recorded(run_dir: Path) -> bool:
    hlog = run_dir / "latency.hlog"
    return hlog.exists() and sum(line.startswith("Tag=") for line in hlog.open()) >= 2


def test_each_test_from_the_web_ui_gets_its_run_dir_and_its_report(tmp_path) -> None:
    """Four tests in one web-UI session: to the plan's end, Stop, Stop, Ctrl-C."""
    from loadkit.run.locust import free_port

    scenario = tmp_path / "webtwice.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO))
    reports, port = tmp_path / "reports", free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadkit", "run", str(scenario), "--web",
             "--web-port", str(port), "--out", str(reports)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
        )  # fmt: skip
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")))
        reader.start()

        def ui_up() -> bool:
            try:
                return httpx.get(base + "/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        def start(test: int) -> Path:
            assert httpx.post(base + "/swarm", data={}, timeout=30).json()["success"]
            run_dir = _wait_for(
                lambda: next(
                    (d for d in sorted(reports.glob("*-webtwice*")) if d not in run_dirs), None
                ),
                60,
                f"run dir {test}",
                output,
            )
            run_dirs.append(run_dir)
            _wait_for(lambda: _requests_recorded(run_dir), 60, "requests", output)
            # its fault came and went, printed like the first test's
            _wait_for(lambda: "".join(output).count(REVERTED) == test, 60, "fault lines", output)
            return run_dir

        def reported(run_dir: Path, how: str) -> None:
            _wait_for(
                lambda: f"report: {run_dir / 'report.html'}" in "".join(output),
                120,
                f"the report of {run_dir.name} after {how}",
                output,
            )
            assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()

        run_dirs: list[Path] = []
        try:
            _wait_for(ui_up, 120, "the web UI", output)
            reported(start(1), "the end of its plan")  # nobody presses Stop
            for test in (2, 3):
                run_dir = start(test)
                assert httpx.post(base + "/stop", timeout=30).json()["success"]
                reported(run_dir, "Stop")
            start(4)  # still running at Ctrl-C: stopped, and reported too
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=240)
        finally:
            if proc.poll() is None:  # a failed wait: let loadkit stop Locust and the target
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            reader.join(timeout=30)
    text = "".join(output)
    assert proc.returncode == EXIT_INTERRUPTED, text[-3000:]
    assert len(set(run_dirs)) == 4
    assert sorted(reports.iterdir()) == sorted(run_dirs)
    for run_dir in run_dirs:
        assert f"run directory {run_dir}" in text
        assert text.count(f"report: {run_dir / 'report.html'}") == 1, text[-3000:]
        assert (run_dir / "report.html").is_file()
    # every test printed its progress and its fault lines, not only the first
    assert text.count("stage 1 'steady'") == 4, text[-3000:]
    assert text.count(INJECTED) == 4 and text.count(REVERTED) == 4, text[-3000:]
    # the first ran its whole plan (12 s), the Stop-ped ones less
    durations = [
        json.loads((d / "summary.json").read_text())["run"]["duration_s"] for d in run_dirs
    ]
    assert durations[0] >= 11.5 and all(d < 11.5 for d in durations[1:]), durations
