"""A master with 4 worker processes on 127.0.0.1 (docs/distributed.md).

Each worker tallies the requests it really sent (``locustfiles/counted.py``).
The master's figures must hold exactly their sum: ``latency.hlog``, ``run.json``,
the reporter's ``summary.json``, the live ``/metrics`` and Locust's own totals.
The run ends the way the web UI's Stop does (``--autostart``), so the workers'
last intervals reach the master before it quits (see test_distributed_run.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from metrics_support import (
    LOCUSTFILES,
    free_port,
    hlog_by_endpoint,
    locust,
    locust_json_stats,
    poll_until,
    run_dirs,
    stop,
)
from prometheus_client.parser import text_string_to_metric_families

WORKERS = 4


def _metrics(port: int) -> dict[tuple[str, str], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, f"{sample.labels.get('request_type', '')} {sample.labels.get('name', '')}"): (
            sample.value
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_master_totals_equal_the_sum_of_four_workers(tmp_path: Path, server, monkeypatch) -> None:
    url, _ = server
    out, tally = tmp_path / "reports", tmp_path / "tally"
    tally.mkdir()
    monkeypatch.setenv("LOADKIT_TEST_TALLY_DIR", str(tally))  # the workers write there
    master_port, web_port, metrics_port = free_port(), free_port(), free_port()
    locustfile = str(LOCUSTFILES / "counted.py")
    master = locust(
        [
            "-f", locustfile, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", str(master_port), "--expect-workers", str(WORKERS),
            "--autostart", "--autoquit", "120", "-t", "5s", "-u", "8", "-r", "8",
            "--web-host", "127.0.0.1", "--web-port", str(web_port), "-H", url,
            "--json-file", str(tmp_path / "locust"), "--loadkit-out", str(out),
            "--loadkit-interval", "0.5", "--loadkit-metrics-port", str(metrics_port),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    worker_args = ["-f", locustfile, "--worker", "--master-host", "127.0.0.1"]
    worker_args += ["--master-port", str(master_port)]
    workers = [locust(worker_args, cwd=tmp_path) for _ in range(WORKERS)]
    try:
        run_dir = poll_until(lambda: run_dirs(out) and run_dirs(out)[0], timeout=180, step=0.5)
        # the master completes run.json once the workers' last intervals are in
        poll_until(
            lambda: json.loads((run_dir / "run.json").read_text())["totals"]["requests"] > 0,
            timeout=180,
            step=0.5,
        )
        live = _metrics(metrics_port)
        stop(master)  # quits the workers too: they write their tallies
        output = master.stdout.read() if master.stdout else ""
        for worker in workers:
            worker.wait(timeout=60)
    finally:
        for proc in (master, *workers):
            stop(proc)
    assert master.returncode == 1, output  # /fail fails, so Locust exits 1

    tallies = [json.loads(p.read_text()) for p in sorted(tally.glob("worker-*.json"))]
    assert len(tallies) == WORKERS
    assert all(sum(t["requests"] for t in worker.values()) > 0 for worker in tallies)
    summed: dict[str, dict[str, int]] = {}
    for worker in tallies:
        for endpoint, counts in worker.items():
            into = summed.setdefault(endpoint, {"requests": 0, "failures": 0})
            into["requests"] += counts["requests"]
            into["failures"] += counts["failures"]
    assert set(summed) == {"GET /fast", "GET /slow", "GET /fail"}
    total = sum(c["requests"] for c in summed.values())
    failures = sum(c["failures"] for c in summed.values())

    # latency.hlog: every worker's requests, nothing more
    merged = hlog_by_endpoint(run_dir)
    for endpoint, counts in summed.items():
        assert merged[endpoint].get_total_count() == counts["requests"], endpoint
        failed = merged.get(f"fail:{endpoint}")
        assert (failed.get_total_count() if failed else 0) == counts["failures"], endpoint

    # Locust's own totals
    stats = locust_json_stats(tmp_path / "locust")
    assert {e: (s["num_requests"], s["num_failures"]) for e, s in stats.items()} == {
        e: (c["requests"], c["failures"]) for e, c in summed.items()
    }

    # run.json and the live /metrics of the master
    run = json.loads((run_dir / "run.json").read_text())
    assert run["runner"] == {"mode": "master", "workers": WORKERS}
    assert run["totals"] == {"requests": total, "failures": failures}
    assert live[("loadkit_workers", " ")] == WORKERS
    for endpoint, counts in summed.items():
        assert live[("loadkit_requests_total", endpoint)] == counts["requests"], endpoint
        assert live[("loadkit_failures_total", endpoint)] == counts["failures"], endpoint

    # the reporter's summary.json
    loadkit = str(Path(sys.executable).parent / "loadkit")
    report = subprocess.run([loadkit, "report", str(run_dir)], capture_output=True, text=True)
    assert report.returncode == 0, report.stdout + report.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["overall"]["count"], summary["overall"]["failures"]) == (total, failures)
    for endpoint, counts in summed.items():
        figures = summary["endpoints"][endpoint]
        assert (figures["count"], figures["failures"]) == (counts["requests"], counts["failures"])
