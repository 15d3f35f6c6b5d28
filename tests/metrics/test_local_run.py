"""A real local Locust run against a real server writes a complete, exact run directory."""

from __future__ import annotations

import csv
import json

from hdrh.log import HistogramLogReader
from metrics_support import LOCUSTFILES, assert_run_matches_locust, locust, run_dirs

from loadkit.rundir.events import read_events
from loadkit.rundir.hlog import decode_tag, new_histogram


def test_local_run_writes_a_run_dir_matching_locust_stats(tmp_path, server) -> None:
    url, server_pid = server
    out = tmp_path / "reports"
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "basic.py"),
            "--headless",
            "-u",
            "6",
            "-r",
            "6",
            "-t",
            "4s",
            "-H",
            url,
            "--json-file",
            str(tmp_path / "locust"),
            "--loadkit-out",
            str(out),
            "--loadkit-run-name",
            "local smoke",
            "--loadkit-target-pids",
            f"server={server_pid}",
        ],
        cwd=tmp_path,
    )
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, output  # /fail fails, so Locust exits 1

    [run_dir] = run_dirs(out)
    assert run_dir.name.endswith("-local-smoke")
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_status"] == "failed" and run["exit_code"] == 1
    assert run["runner"] == {"mode": "local", "workers": 0}
    assert run["host"] == url and run["stopped_at"] > run["started_at"]
    assert run["target"]["processes"] == {"server": server_pid}
    assert run["totals"]["requests"] > 50

    assert_run_matches_locust(run_dir, tmp_path / "locust")
    reader = HistogramLogReader(str(run_dir / "latency.hlog"), new_histogram())
    total = 0
    while (histogram := reader.get_next_interval_histogram()) is not None:
        decode_tag(histogram.get_tag())
        total += histogram.get_total_count()
    assert total == run["totals"]["requests"]  # hdrh's own reader agrees

    events = list(read_events(run_dir / "events.jsonl"))
    types = [e["type"] for e in events]
    assert types[0] == "run_start" and types[-1] == "run_stop"
    assert {"count": 6, "classes": {"BasicUser": 6}} in [
        {k: e[k] for k in ("count", "classes")} for e in events if e["type"] == "users"
    ]

    with open(run_dir / "resources.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    server_rows = [r for r in rows if r["source"] == "server"]
    assert len(server_rows) >= 2
    assert all(r["kind"] == "process" and int(r["rss_bytes"]) > 0 for r in server_rows)
    assert any(int(r["connections"]) > 0 for r in server_rows)
    assert any(r["source"] == "locust-master" for r in rows)


def test_host_credentials_are_never_written(tmp_path, server) -> None:
    url, _ = server
    secret_url = url.replace("http://", "http://alice:s3cret@")
    out = tmp_path / "reports"
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "basic.py"),
            "--headless",
            "-u",
            "1",
            "-r",
            "1",
            "-t",
            "2s",
            "-H",
            secret_url,
            "--loadkit-out",
            str(out),
            "--only-summary",
        ],
        cwd=tmp_path,
    )
    proc.communicate(timeout=120)
    [run_dir] = run_dirs(out)
    assert json.loads((run_dir / "run.json").read_text())["host"] == url
    for file in run_dir.iterdir():
        assert "s3cret" not in file.read_text(errors="replace"), file
