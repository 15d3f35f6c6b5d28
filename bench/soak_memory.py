"""Soak memory: the Locust master's RSS over a long run with loadkit recording.

A FastHttpUser locustfile with ``import loadkit.locust`` and 6 endpoints runs
headless against a local nginx (`apt-get install -y nginx-light`) at >= 1,000
requests/s (--users, paced per user). By default one local runner does the load
and the recording; ``--processes N`` runs a master with N forked workers, and the
master (which merges and writes everything) is the one measured. The script
samples the measured process's RSS every 5 s and compares the RSS at the end of
the warm-up (first 25 % of the run, at least 20 s) with the RSS at the end.
Aim: flat after warm-up, growth < 1 MB. Prints one JSON object.

    .venv/bin/python bench/soak_memory.py [--duration 120] [--processes 0]
    .venv/bin/python bench/soak_memory.py --duration 600     # the full figure
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from plugin_overhead import LOCUST, free_port, start_nginx, stop_process

ENDPOINTS = ("/jobs", "/status", "/responses", "/sessions", "/tasks", "/health")

LOCUSTFILE = """
from locust import FastHttpUser, constant_throughput, task
{plugin}

ENDPOINTS = {endpoints!r}


class Soak(FastHttpUser):
    wait_time = constant_throughput({per_user_rps})

    @task
    def hit(self):
        for path in ENDPOINTS:
            self.client.get(path)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rps", type=float, default=1500.0, help="target requests/s in total")
    parser.add_argument("--processes", type=int, default=0, help="forked workers (0: local)")
    parser.add_argument(
        "--bare", action="store_true", help="without loadkit: Locust's own growth, to compare"
    )
    args = parser.parse_args()
    warmup = max(20.0, args.duration * 0.25)

    with tempfile.TemporaryDirectory(prefix="loadkit-soak-") as tmp:
        workdir = Path(tmp)
        nginx, host = start_nginx(workdir)
        locustfile = workdir / "soak_users.py"
        per_user = args.rps / args.users / len(ENDPOINTS)  # task runs per second per user
        plugin = "" if args.bare else "import loadkit.locust  # noqa: F401"
        locustfile.write_text(
            LOCUSTFILE.format(plugin=plugin, endpoints=ENDPOINTS, per_user_rps=per_user)
        )
        command = [
            LOCUST, "-f", str(locustfile), "--headless", "-u", str(args.users),
            "-r", str(args.users), "-t", f"{int(args.duration)}s", "-H", host,
            "--only-summary", "--json-file", str(workdir / "stats"),
        ]  # fmt: skip
        if not args.bare:
            command += ["--loadkit-out", str(workdir / "reports")]
        if args.processes:
            port = str(free_port())
            command += ["--processes", str(args.processes), "--master-bind-host", "127.0.0.1"]
            command += ["--master-bind-port", port, "--master-port", port]
        proc = subprocess.Popen(
            command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        samples: list[tuple[float, int]] = []
        try:
            process = psutil.Process(proc.pid)
            started = time.monotonic()
            while proc.poll() is None:
                try:
                    samples.append((time.monotonic() - started, process.memory_info().rss))
                except psutil.Error:
                    break
                time.sleep(5.0)
            proc.wait(timeout=args.duration + 120)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            stop_process(proc)
            stop_process(nginx)
        stats = json.loads((workdir / "stats.json").read_text())
        requests = sum(int(entry["num_requests"]) for entry in stats)
        reports = workdir / "reports"
        run_dirs = list(reports.iterdir()) if reports.exists() else []
        hlog_bytes = sum((d / "latency.hlog").stat().st_size for d in run_dirs)

    running = [(t, rss) for t, rss in samples if t <= args.duration]
    after_warmup = [rss for t, rss in running if t >= warmup]
    if len(after_warmup) < 2:
        sys.exit("run too short to measure: use a longer --duration")
    mib = 1024 * 1024
    print(
        json.dumps(
            {
                "figure": "soak_memory",
                "mode": f"master + {args.processes} workers" if args.processes else "local",
                "loadkit": not args.bare,
                "duration_s": args.duration,
                "warmup_s": warmup,
                "requests": requests,
                "requests_per_s": round(requests / args.duration),
                "endpoints": len(ENDPOINTS),
                "rss_after_warmup_mib": round(after_warmup[0] / mib, 2),
                "rss_end_mib": round(after_warmup[-1] / mib, 2),
                "growth_after_warmup_mib": round((after_warmup[-1] - after_warmup[0]) / mib, 3),
                "growth_median_second_half_vs_first_half_mib": round(
                    (
                        statistics.median(after_warmup[len(after_warmup) // 2 :])
                        - statistics.median(after_warmup[: len(after_warmup) // 2])
                    )
                    / mib,
                    3,
                ),
                "rss_max_mib": round(max(rss for _, rss in running) / mib, 2),
                "hlog_bytes": hlog_bytes,
                "rss_series_mib": [[round(t), round(rss / mib, 2)] for t, rss in running],
            }
        )
    )


if __name__ == "__main__":
    main()
