"""Bad input at Locust start, in real ``locust --processes 2`` runs (a master + 2 forked workers).

Whichever part finds it (scenario, faults, metrics), the run ends the same way:
one ``loadkit: error:`` line naming the file/flag, no traceback, exit 2, and
no process of the tree left behind.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

# The master's init waits a little first, so that the forked workers meet the bad
# input before the master stops them: they must stay silent (the master says it once).
LOCUSTFILE = """\
import time

from locust import User, constant, events, task
from locust.runners import WorkerRunner


@events.init.add_listener
def _master_is_slow(environment, **_kwargs):
    if not isinstance(environment.runner, WorkerRunner):
        time.sleep(1.5)


import loadkit.locust  # noqa: E402, F401


class PingUser(User):
    wait_time = constant(0.1)

    @task
    def ping(self):
        pass
"""

BAD_SCENARIO = """\
name: bad
locustfile: lf.py
users: {PingUser: 1}
stages:
  - {duration: 20s, users: 1}
  - {duration: 3 minutes, users: 2}
"""

BAD_FAULTS = """\
faults:
  - {name: ok, at: 1s, for: 2s, kind: latency, via: proxy, latency: 100ms}
  - {name: slow, at: 1s, for: 2s, kind: latency, via: proxy, latency: fast}
"""

CASES = {
    "scenario": (
        ["--loadkit-scenario", "bad.yaml"],
        "bad.yaml:6: stages[1].duration: '3 minutes' is not a duration",
    ),
    "faults": (
        ["--loadkit-faults", "faults.yaml"],
        "faults.yaml:3: faults[1] (slow).latency: 'fast' is not a duration",
    ),
    "metrics": (["--loadkit-interval", "abc"], "--loadkit-interval: 'abc' is not an interval"),
}


def _run_tracking_children(args: list[str], cwd: Path) -> tuple[int, str, set[int]]:
    """Run Locust; return its exit code, its stderr and the pids of every child it had."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "lf.py", "--headless", "--processes", "2",
         "-t", "20s", "--loadkit-out", str(cwd / "reports"), *args],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                seen.update(child.pid for child in parent.children(recursive=True))
            time.sleep(0.005)
        _, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stderr, seen


def _status(pid: int) -> str:
    try:
        proc = psutil.Process(pid)
        return f"{proc.status()} {proc.ppid()} {proc.cmdline()}"
    except psutil.Error as exc:
        return repr(exc)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_no_child_left(tmp_path: Path, case: str) -> None:
    (tmp_path / "lf.py").write_text(LOCUSTFILE)
    (tmp_path / "bad.yaml").write_text(BAD_SCENARIO)
    (tmp_path / "faults.yaml").write_text(BAD_FAULTS)
    args, expected = CASES[case]

    code, stderr, children = _run_tracking_children(args, tmp_path)

    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"loadkit: error: {expected}"), stderr
    assert "Traceback" not in stderr
    assert len(children) == 2, f"expected to see the 2 forked workers, saw {children}"
    alive = [(pid, _status(pid)) for pid in children if psutil.pid_exists(pid)]
    assert not alive, f"children left behind: {alive}"
