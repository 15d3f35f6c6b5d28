"""The status line during a graceful stop says what is true, not the last interval again.

Regression: while Locust waited for the users' graceful stop, ``loadkit run``'s status
line went on with ``stage steady | 0 users | 10.0 req/s | ...``: the last interval's
figures, as if the load went on. Now it reads ``stopping: waiting for 1 user (5s of 10s
grace) | no requests completed since 3s``. Real processes: ``loadkit run`` (local, and a
master with a worker) against a loopback server that holds every request arriving after
2 s, so the user hangs in its requests through the stop; and the status of a run dir
written by loadkit's writer, read at known times.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loadkit.run.status import RunStatus
from loadkit.rundir.layout import EVENTS_JSONL, EventType
from loadkit.rundir.synthetic import SyntheticRun, write_run_dir

TESTS = Path(__file__).parent.parent
LOCUSTFILE = TESTS / "load" / "graceful_locustfile.py"
STATUS = re.compile(r"^loadkit: \[ *(\d+)s/4s\] (.*)$", re.MULTILINE)
STOPPING = re.compile(
    r"^stopping: waiting for 1 user \((\d+)s of 10s grace\) "
    r"\| no requests completed since (\d+)s \| faults: none$"
)

SCENARIO = """\
name: stopstatus
target: {url}
locustfile: {locustfile}
users: {{HangUser: 1}}
stages:
  - {{name: steady, duration: 4s, users: 1, spawn_rate: 1}}
checks:
  - count > 0
"""


@pytest.fixture
def held_from_2s(stall_server) -> str:
    """A server answering in 10 ms, holding every request that arrives after 2 s."""
    url, _arrivals = stall_server(2, 600, 0, 10)
    return url


@pytest.mark.exclusive  # judges the status line's seconds against the wall clock
@pytest.mark.parametrize("workers", [0, 1], ids=["local", "master+worker"])
def test_the_status_line_during_a_graceful_stop(tmp_path, held_from_2s, workers) -> None:
    scenario = tmp_path / "stopstatus.yaml"
    scenario.write_text(SCENARIO.format(url=held_from_2s, locustfile=LOCUSTFILE))
    env = {**os.environ, "LK_GRACE_S": "10", "LK_RATE": "10"}
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(scenario), "--workers", str(workers),
         "--out", str(tmp_path / "reports")],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console[-3000:]
    # the stop begins at ~5 s (the shape's next tick after 4 s) and lasts the 10 s grace;
    # from 8 s on, well after the last answers (~2 s), each line says who is left and
    # that none completed since, not the last interval's figures again (a line at the
    # stop's start may still show them: the latency log is a second or two behind)
    during = [(int(t), text) for t, text in STATUS.findall(console) if int(t) >= 8]
    assert during, console[-3000:]  # a status line every 5 s: one in the stop's last 6 s
    for elapsed, text in during:
        match = STOPPING.match(text)
        assert match and match[2] is not None, (elapsed, text)
        waited, since = int(match[1]), int(match[2])
        assert elapsed - 8 <= waited <= elapsed - 4 and 2 <= since <= 4, (elapsed, text)


def _status_of_a_run_with_a_stop(tmp_path: Path, users: list[int]) -> RunStatus:
    run_dir = write_run_dir(
        SyntheticRun(name="stopped", endpoints=["GET /a"], duration_s=10, rate=100),
        tmp_path / "run",
    )
    status = RunStatus(run_dir, planned_s=10)
    events = [json.loads(line) for line in (run_dir / EVENTS_JSONL).read_text().splitlines()]
    for event in events:
        status.on_event(event)
    assert status.start is not None
    for n, count in enumerate(users):  # a stop at 10 s, the users leaving one a second
        event = {"t": status.start + 10 + n, "type": EventType.STOPPING, "users": count}
        status.on_event({**event, "grace_s": 30.0})
    return status


def test_a_stop_shows_who_is_left_and_the_requests_still_completing(tmp_path) -> None:
    status = _status_of_a_run_with_a_stop(tmp_path, [3, 2])
    start = status.start or 0.0
    # the last interval (9 s to 10 s) is fresh at 12 s: requests completed in it
    fresh = status.line(now=start + 12.4)
    assert fresh.startswith("[   12s/10s] stopping: waiting for 2 users (2s of 30s grace) | ")
    assert re.search(r"\| \d+\.\d req/s \| errors 0\.0% \| p95 \d+ ms \| faults: none$", fresh)
    assert "stage" not in fresh and "users |" not in fresh  # not the plan's figures
    # eight seconds on nothing more was written: none completed since 10 s
    stale = status.line(now=start + 18.0)
    assert stale == (
        "[   18s/10s] stopping: waiting for 2 users (8s of 30s grace) "
        "| no requests completed since 10s | faults: none"
    )
    status.on_event({"t": start + 19, "type": EventType.STOPPING, "users": 0, "grace_s": 30.0})
    assert "stopping: every user stopped |" in status.line(now=start + 19.5)


def test_a_stop_without_a_known_grace_and_a_run_without_one(tmp_path) -> None:
    status = _status_of_a_run_with_a_stop(tmp_path, [1])
    start = status.start or 0.0
    status.on_event({"t": start + 11, "type": EventType.STOPPING, "users": 1, "grace_s": None})
    assert "stopping: waiting for 1 user (3s) |" in status.line(now=start + 13.0)
    plain = RunStatus(status.run_dir, planned_s=10)
    for line in (status.run_dir / EVENTS_JSONL).read_text().splitlines():
        event = json.loads(line)
        if event["type"] != EventType.STOPPING:
            plain.on_event(event)
    assert "stopping" not in plain.line(now=start + 10.5)
    assert "no requests completed since 10s" in plain.line(now=start + 30.0)  # stale, too
