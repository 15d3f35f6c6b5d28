"""Every test started from the web UI gets its own run directory and its own report.

Regression (issue 15): only the first test of a web-UI session got a report
(``loadkit run --web`` followed the first new run dir only), pressing Stop wrote
none, and the second test printed no progress or fault lines. Real processes:
``loadkit run --web`` with the built-in target, driven through Locust's HTTP API.
"""

from __future__ import annotations

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
  - {name: steady, duration: 120s, users: 2, spawn_rate: 2}
checks:
  - count > 0
"""


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
    """Two tests started and stopped through Locust's HTTP API, a third ended by Ctrl-C."""
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

        run_dirs: list[Path] = []
        try:
            _wait_for(ui_up, 120, "the web UI", output)
            for test in (1, 2):
                assert httpx.post(base + "/swarm", data={}, timeout=30).json()["success"]
                run_dir = _wait_for(
                    lambda t=test: next(
                        (d for d in sorted(reports.glob("*-webtwice*")) if d not in run_dirs),
                        None,
                    ),
                    60,
                    f"run dir {test}",
                    output,
                )
                run_dirs.append(run_dir)
                _wait_for(lambda d=run_dir: _requests_recorded(d), 60, "requests", output)
                httpx.post(base + "/stop", timeout=30)
                _wait_for(
                    lambda d=run_dir: f"report: {d / 'report.html'}" in "".join(output),
                    120,
                    f"the report of test {test} after Stop",
                    output,
                )
                assert (run_dir / "report.html").is_file() and (run_dir / "junit.xml").is_file()
            # a third test, still running at Ctrl-C: stopped, and reported too
            assert httpx.post(base + "/swarm", data={}, timeout=30).json()["success"]
            run_dir = _wait_for(
                lambda: next(
                    (d for d in sorted(reports.glob("*-webtwice*")) if d not in run_dirs), None
                ),
                60,
                "run dir 3",
                output,
            )
            run_dirs.append(run_dir)
            _wait_for(lambda d=run_dir: _requests_recorded(d), 60, "requests", output)
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
    assert len(set(run_dirs)) == 3
    assert sorted(reports.iterdir()) == sorted(run_dirs)
    for run_dir in run_dirs:
        assert f"run directory {run_dir}" in text
        assert text.count(f"report: {run_dir / 'report.html'}") == 1, text[-3000:]
    assert (run_dirs[2] / "report.html").is_file()
    # the later tests printed their progress too
    assert text.count("stage 1 'steady'") == 3, text[-3000:]
