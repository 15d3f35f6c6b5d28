"""Master + 2 workers (real processes): the master's run dir holds every worker's requests."""

from __future__ import annotations

import json

from metrics_support import (
    LOCUSTFILES,
    assert_run_matches_locust,
    free_port,
    locust,
    run_dirs,
    stop,
)

from loadkit.metrics.events import read_events


def test_master_merges_worker_intervals_exactly(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = free_port()
    locustfile = str(LOCUSTFILES / "basic.py")
    master = locust(
        [
            "-f",
            locustfile,
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
            "--headless",
            "-u",
            "6",
            "-r",
            "6",
            "-t",
            "5s",
            "-H",
            url,
            "--json-file",
            str(tmp_path / "locust"),
            "--loadkit-out",
            str(out),
            "--loadkit-interval",
            "0.5",
        ],
        cwd=tmp_path,
    )
    workers = [
        locust(
            [
                "-f",
                locustfile,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ],
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    try:
        output, _ = master.communicate(timeout=180)
        for worker in workers:
            worker.wait(timeout=60)
    finally:
        for proc in (master, *workers):
            stop(proc)
    assert master.returncode == 1, output

    [run_dir] = run_dirs(out)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runner"] == {"mode": "master", "workers": 2}
    assert run["interval_s"] == 0.5 and run["exit_status"] == "failed"
    assert_run_matches_locust(run_dir, tmp_path / "locust")

    events = list(read_events(run_dir / "events.jsonl"))
    users = [e for e in events if e["type"] == "users"]
    assert max(e["count"] for e in users) == 6
    assert events[-1]["type"] == "run_stop"


def test_processes_mode_records_every_forked_worker(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = str(free_port())  # the forked workers connect to --master-port
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "basic.py"),
            "--processes",
            "2",
            "--headless",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--master-port",
            port,
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "-H",
            url,
            "--json-file",
            str(tmp_path / "locust"),
            "--loadkit-out",
            str(out),
        ],
        cwd=tmp_path,
    )
    try:
        output, _ = proc.communicate(timeout=120)
    finally:
        stop(proc)
    assert proc.returncode == 1, output
    [run_dir] = run_dirs(out)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runner"] == {"mode": "master", "workers": 2}
    assert_run_matches_locust(run_dir, tmp_path / "locust")
