"""Workers joining and going missing mid-run show in the timeline; the run still completes."""

from __future__ import annotations

import json
import signal

from metrics_support import LOCUSTFILES, free_port, locust, poll_until, run_dirs, stop

from loadkit.rundir.events import read_events
from loadkit.rundir.hlog import read_log


def _types(run_dir) -> list[dict]:
    return list(read_events(run_dir / "events.jsonl"))


def test_worker_join_and_missing_events(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = str(free_port())
    locustfile = str(LOCUSTFILES / "basic.py")
    worker_args = [
        "-f",
        locustfile,
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        port,
    ]
    master = locust(
        [
            "-f", locustfile, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port, "--expect-workers", "1", "--headless",
            "-u", "4", "-r", "4", "-t", "120s", "-H", url, "--loadkit-out", str(out),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    first = locust(worker_args, cwd=tmp_path)
    late = None
    try:
        run_dir = poll_until(lambda: (run_dirs(out) or [None])[0], timeout=90)
        late = locust(worker_args, cwd=tmp_path)
        join = poll_until(
            lambda: [e for e in _types(run_dir) if e["type"] == "worker_join"], timeout=90
        )[0]
        poll_until(lambda: "\nTag=" in (run_dir / "latency.hlog").read_text())
        late.send_signal(signal.SIGKILL)
        missing = poll_until(
            lambda: [e for e in _types(run_dir) if e["type"] == "worker_missing"], timeout=90
        )[0]
        assert missing["worker"] == join["worker"]
        master.send_signal(signal.SIGTERM)
        master.communicate(timeout=90)
    finally:
        for proc in (master, first, late):
            if proc is not None:
                stop(proc)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_status"] == "interrupted" and run["stopped_at"] is not None
    assert _types(run_dir)[-1]["type"] == "run_stop"
    assert sum(i.histogram.get_total_count() for i in read_log(run_dir / "latency.hlog")) > 0
