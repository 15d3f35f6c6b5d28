"""A master's stop fires ``test_stopping`` once, and waits for its workers' graceful stop.

Regression: :mod:`loadkit.load.graceful`'s master stop fired ``test_stopping`` itself
(so the faults revert before it waits for the workers), then called Locust's own stop,
which fired it again: a user's ``@events.test_stopping.add_listener`` saw two events per
stop. Real processes: ``loadkit run --workers 1`` (a master and a worker) against a
loopback server that holds the requests in flight at the stop, and the listeners of a
user's locustfile (``graceful_locustfile.py``) counting what each process saw.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loadkit.report.analysis import Analysis, analyse
from loadkit.rundir.reader import load_run_dir

HERE = Path(__file__).parent
LOCUSTFILE = HERE / "graceful_locustfile.py"

SCENARIO = """\
name: stopcount
target: {url}
locustfile: {locustfile}
users: {{HangUser: 1}}
stages:
  - {{name: steady, duration: {seconds}s, users: 1, spawn_rate: 1}}
checks:
  - count > 0
"""


@pytest.fixture
def held_from_2s(stall_server) -> tuple[str, Path]:
    """A server answering in 10 ms, holding every request that arrives after 2 s."""
    return stall_server(2, 600, 0, 10)


def _arrivals(log: Path) -> int:
    return len(log.read_text().split()) if log.exists() else 0


def _wait_for(predicate: Callable[[], bool], what: str, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _run(tmp_path: Path, url: str, arrivals: Path, how: str) -> tuple[int, str]:
    """``loadkit run --workers 1`` stopped ``how``; returns its exit code and console."""
    from loadkit.run.locust import free_port

    seconds = 4 if how == "end" else 90
    scenario = tmp_path / "stopcount.yaml"
    scenario.write_text(SCENARIO.format(url=url, locustfile=LOCUSTFILE, seconds=seconds))
    port = free_port()
    command = [sys.executable, "-m", "loadkit", "run", str(scenario), "--workers", "1",
               "--out", str(tmp_path / "reports")]  # fmt: skip
    if how == "web":
        command += ["--web", "--web-port", str(port)]
    env = {**os.environ, "LK_EVENTS_LOG": str(tmp_path / "events.txt"), "LK_GRACE_S": "2"}
    log = tmp_path / "run.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        try:
            if how == "web":
                base = f"http://127.0.0.1:{port}"
                _wait_for(lambda: _up(base), "the web UI", log)
                # a swarm before the worker is there starts no user (the shape never retries)
                _wait_for(lambda: "1 workers connected" in log.read_text(), "the worker", log)
                assert httpx.post(base + "/swarm", data={}, timeout=30).json()["success"]
                _wait_for(lambda: _arrivals(arrivals) >= 25, "25 requests", log)  # 5 held
                assert httpx.post(base + "/stop", timeout=60).json()["success"]
                _wait_for(lambda: "loadkit: report: " in log.read_text(), "the report", log)
                proc.send_signal(signal.SIGINT)
            elif how == "ctrl-c":
                _wait_for(lambda: _arrivals(arrivals) >= 25, "25 requests", log)
                proc.send_signal(signal.SIGINT)
            proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.returncode, log.read_text(errors="replace")


@pytest.mark.parametrize("how", ["end", "web", "ctrl-c"])
def test_a_master_stop_fires_test_stopping_once(tmp_path, held_from_2s, how) -> None:
    from loadkit.errors import EXIT_INTERRUPTED, EXIT_OK

    url, arrivals = held_from_2s
    code, console = _run(tmp_path, url, arrivals, how)
    assert code == (EXIT_OK if how == "end" else EXIT_INTERRUPTED), console[-3000:]
    assert _arrivals(arrivals) >= 25, console[-3000:]  # requests were in flight at the stop
    seen = Counter(
        tuple(line.split()) for line in (tmp_path / "events.txt").read_text().splitlines()
    )
    masters = {pid for (_, pid, runner) in seen if runner == "MasterRunner"}
    workers = {pid for (_, pid, runner) in seen if runner == "WorkerRunner"}
    assert len(masters) == 1 and len(workers) == 1, seen
    for pid in masters | workers:  # each process: one stop, one test_stopping, one test_stop
        runner = "MasterRunner" if pid in masters else "WorkerRunner"
        assert seen[("test_stopping", pid, runner)] == 1, seen
        assert seen[("test_stop", pid, runner)] == 1, seen
    # the stop still waited for the graceful stop: every request counted, the held ones
    # as interrupted (a 2 s graceful stop), none lost
    (run_dir,) = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    analysis = analyse(load_run_dir(run_dir))
    answered, interrupted = _count(analysis, "GET /work"), _count(analysis, "ITER work interrupted")
    assert interrupted >= 5 and answered + interrupted == _arrivals(arrivals), console[-3000:]


def _count(analysis: Analysis, endpoint: str) -> int:
    value = analysis.stat("run", endpoint, "count")
    return 0 if math.isnan(value) else int(value)
