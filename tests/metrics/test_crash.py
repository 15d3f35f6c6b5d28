"""kill -9 of a running Locust leaves a run dir every reader can still read."""

from __future__ import annotations

import csv
import json
import signal

from metrics_support import LOCUSTFILES, locust, poll_until, run_dirs, stop

from loadkit.rundir.events import read_events
from loadkit.rundir.hlog import read_log


def _data_lines(path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.startswith("Tag="))


def test_killed_run_leaves_a_readable_run_dir(tmp_path, server) -> None:
    url, server_pid = server
    out = tmp_path / "reports"
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "basic.py"),
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "120s",
            "-H",
            url,
            "--loadkit-out",
            str(out),
            "--loadkit-target-pids",
            f"server={server_pid}",
        ],
        cwd=tmp_path,
    )
    try:
        run_dir = poll_until(lambda: (run_dirs(out) or [None])[0], timeout=60)
        poll_until(lambda: _data_lines(run_dir / "latency.hlog") >= 9, timeout=90)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode == -signal.SIGKILL

    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_status"] is None and run["stopped_at"] is None  # never completed
    intervals = list(read_log(run_dir / "latency.hlog"))
    assert len(intervals) >= 9
    assert sum(i.histogram.get_total_count() for i in intervals) > 0
    assert all(i.end_s >= i.start_s >= 0 for i in intervals)

    events = list(read_events(run_dir / "events.jsonl"))
    assert events[0]["type"] == "run_start" and events[0]["run_id"] == run_dir.name
    assert "run_stop" not in {e["type"] for e in events}

    with open(run_dir / "resources.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert any(r["source"] == "server" for r in rows)
