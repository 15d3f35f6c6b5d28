"""Master + workers (real processes): the master's run dir holds every worker's requests.

These runs end the way the web UI's Stop does (``--autostart --autoquit``): the
master stops the workers, waits for them, and only then quits. (A headless
``-t`` run quits at once and gives the workers 0.5 s for their last reports;
on a loaded machine Locust's own totals then miss the workers' last seconds,
which would make an exact comparison meaningless.)
"""

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

from loadkit.rundir.events import read_events


def _stop_then_quit(run_time: str) -> list[str]:
    web = ["--web-host", "127.0.0.1", "--web-port", str(free_port())]
    return ["--autostart", "--autoquit", "5", "-t", run_time, *web]


def test_master_merges_worker_intervals_exactly(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = str(free_port())
    locustfile = str(LOCUSTFILES / "basic.py")
    master = locust(
        [
            "-f", locustfile, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port, "--expect-workers", "2", "-u", "6", "-r", "6",
            *_stop_then_quit("5s"), "-H", url, "--json-file", str(tmp_path / "locust"),
            "--loadkit-out", str(out), "--loadkit-interval", "0.5",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    worker_args = [
        "-f",
        locustfile,
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        port,
    ]
    workers = [locust(worker_args, cwd=tmp_path) for _ in range(2)]
    try:
        output, _ = master.communicate(timeout=180)
        for worker in workers:
            worker.wait(timeout=60)
    finally:
        for proc in (master, *workers):
            stop(proc)
    assert master.returncode == 1, output  # /fail fails, so Locust exits 1

    [run_dir] = run_dirs(out)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runner"] == {"mode": "master", "workers": 2}
    assert run["interval_s"] == 0.5 and run["exit_status"] == "failed"
    assert_run_matches_locust(run_dir, tmp_path / "locust")

    events = list(read_events(run_dir / "events.jsonl"))
    assert max(e["count"] for e in events if e["type"] == "users") == 6
    assert [e["type"] for e in events].count("run_stop") == 1


def test_processes_mode_records_every_forked_worker(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = str(free_port())  # the forked workers connect to --master-port
    proc = locust(
        [
            "-f", str(LOCUSTFILES / "basic.py"), "--processes", "2",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port,
            "-u", "4", "-r", "4", *_stop_then_quit("4s"), "-H", url,
            "--json-file", str(tmp_path / "locust"), "--loadkit-out", str(out),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=180)
    finally:
        stop(proc)
    assert proc.returncode == 1, output
    [run_dir] = run_dirs(out)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runner"] == {"mode": "master", "workers": 2}
    assert_run_matches_locust(run_dir, tmp_path / "locust")
