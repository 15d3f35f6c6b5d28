"""How many SyncClientUsers one Locust process holds connected and receiving events.

Starts the reference target on 127.0.0.1, then for each client count in
``--clients`` runs one headless Locust process (a single process: what one
worker holds) with ``locustfiles/sync.py``: every client subscribes to one of
``--repos`` repos; ``--writers`` of them write a task update every
``--write-interval`` seconds, so each write fans out to clients/repos
subscribers. After the ramp (``--spawn-rate`` clients/s) the run holds for
``--hold`` seconds.

Per step it reports: clients connected at the gateway (``GET /admin/ws``,
sampled), failed connects, notifications received per second and their
end-to-end latency (write → event received, median and p99 from Locust's own
histogram), ordering failures (missed / out-of-order events), and the CPU of
the Locust process and of the gateway (one core = 100). Prints one JSON object.

    .venv/bin/python bench/sync_clients.py [--clients 1000,2500,5000] [--hold 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from loadkit.target.launcher import start_target

ROOT = Path(__file__).resolve().parents[1]
LOCUST = str(Path(sys.executable).with_name("locust"))


# Same users, with the metrics plugin's per-second process sampling switched off
# (psutil's net_connections() scans every socket of the machine: with thousands
# of WebSockets it blocks the Locust process's event loop).
UNSAMPLED = """
import sys
sys.path.insert(0, {folder!r})
import loadkit.metrics.resources as resources
resources.ProcessCollector.sample = lambda self: None
from sync import SyncClientUser  # noqa: F401
"""


def percentile(histogram: dict[str, int], q: float) -> float | None:
    """Percentile of Locust's ``response_times`` ({rounded ms: count})."""
    points = sorted((float(k), int(v)) for k, v in histogram.items())
    total = sum(count for _, count in points)
    if not total:
        return None
    seen = 0
    for value, count in points:
        seen += count
        if seen >= q * total:
            return value
    return points[-1][0]


def run_step(args: argparse.Namespace, clients: int, url: str, workdir: Path) -> dict[str, Any]:
    ramp_s = clients / args.spawn_rate
    run_s = int(ramp_s + args.hold + 2)
    prefix = workdir / f"sync-{clients}"
    share = min(1.0, args.writers / clients)
    locustfile = ROOT / "locustfiles" / "sync.py"
    if args.no_resource_sampling:
        locustfile = workdir / "sync_unsampled.py"
        locustfile.write_text(UNSAMPLED.format(folder=str(ROOT / "locustfiles")))
    cmd = [
        LOCUST, "-f", str(locustfile), "--headless",
        "-u", str(clients), "-r", str(args.spawn_rate), "-t", f"{run_s}s", "-H", url,
        "--json-file", str(prefix), "--loadkit-out", str(workdir / "reports"),
        "--sync-repos", str(args.repos), "--sync-repos-per-client", "1",
        "--sync-writer-share", f"{share:.6f}", "--sync-write-interval", str(args.write_interval),
        "--sync-batch-weight", "0", "--sync-ping-interval", "30",
    ]  # fmt: skip
    log = (workdir / f"sync-{clients}.log").open("w")
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    gateway = psutil.Process(int(json.loads((workdir / "target" / "target.json").read_text())[
        "gateway"]["pid"]))  # fmt: skip
    locust = psutil.Process(proc.pid)
    connected_max = 0
    started = time.monotonic()
    hold_from = started + ramp_s + 1
    cpu: dict[str, tuple[float, float]] = {}
    try:
        with httpx.Client(timeout=10) as http:
            while proc.poll() is None:
                now = time.monotonic()
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    connections = http.get(f"{url}/admin/ws").json()["connections"]
                    connected_max = max(connected_max, int(connections))
                if now >= hold_from and "start" not in cpu:
                    cpu["start"] = (_cpu(locust), _cpu(gateway))
                    cpu_t0 = now
                if now >= hold_from + args.hold - 1 and "end" not in cpu and "start" in cpu:
                    cpu["end"] = (_cpu(locust), _cpu(gateway))
                    cpu_t1 = now
                time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        log.close()
    stats = {
        f"{e['method']} {e['name']}": e for e in json.loads(Path(f"{prefix}.json").read_text())
    }
    notify = stats.get("WS notify task.updated", {})
    connect = stats.get("WS connect", {})
    order = stats.get("WS notify order", {})
    per_second = sorted((int(k), v) for k, v in notify.get("num_reqs_per_sec", {}).items())
    held = [v for k, v in per_second[-int(args.hold) : -1]] if per_second else [0]
    result: dict[str, Any] = {
        "clients": clients,
        "connected_max": connected_max,
        "connect_failures": connect.get("num_failures", 0),
        "notifications": notify.get("num_requests", 0),
        "notify_per_s_hold": round(sum(held) / max(len(held), 1), 1),
        "notify_p50_ms": percentile(notify.get("response_times", {}), 0.5),
        "notify_p99_ms": percentile(notify.get("response_times", {}), 0.99),
        "order_failures": order.get("num_failures", 0),
        "reconnects": stats.get("WS reconnect", {}).get("num_requests", 0),
    }
    if "end" in cpu:
        seconds = cpu_t1 - cpu_t0
        result["locust_cpu_pct"] = round(100 * (cpu["end"][0] - cpu["start"][0]) / seconds, 1)
        result["gateway_cpu_pct"] = round(100 * (cpu["end"][1] - cpu["start"][1]) / seconds, 1)
    return result


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1000,2500,5000", help="client counts, one run each")
    parser.add_argument("--spawn-rate", type=float, default=250.0, help="clients started per s")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds at full count")
    parser.add_argument("--repos", type=int, default=10, help="repos (fan-out = clients/repos)")
    parser.add_argument("--writers", type=int, default=10, help="clients that also write")
    parser.add_argument("--write-interval", type=float, default=1.0, help="s between writes")
    parser.add_argument(
        "--no-resource-sampling",
        action="store_true",
        help="switch off the metrics plugin's process sampling (to see what limits)",
    )
    args = parser.parse_args()
    steps = []
    with tempfile.TemporaryDirectory(prefix="loadkit-bench-sync-") as tmp:
        workdir = Path(tmp)
        for clients in (int(c) for c in args.clients.split(",")):
            with start_target(workdir / "target") as target:
                steps.append(run_step(args, clients, target.url, workdir))
    print(json.dumps({"figure": "sync_clients", "repos": args.repos, "writers": args.writers,
                      "resource_sampling": not args.no_resource_sampling,
                      "write_interval_s": args.write_interval, "steps": steps}))  # fmt: skip


if __name__ == "__main__":
    main()
