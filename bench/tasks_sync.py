"""Tasks sync write path of the reference target: single writes and batch sync.

Starts the real target on 127.0.0.1. Per round: CLIENTS threads each do
WRITES optimistic updates (PUT with base_version, rebasing on 409) of their
own task, then one client posts sync batches of BATCH changes. Prints one JSON
object with the median over ROUNDS of: PUT latency p50/p99 (ms), PUT
throughput (writes/s) and sync throughput (changes applied/s).

    .venv/bin/python bench/tasks_sync.py [--clients 4] [--writes 200] [--batch 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from loadkit.target.launcher import start_target


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def put_loop(url: str, repo: str, writes: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as http:
        task = http.post(f"/repos/{repo}/tasks", json={"title": "t"}).json()
        path = f"/repos/{repo}/tasks/{task['task_id']}"
        version = task["version"]
        for i in range(writes):
            started = time.perf_counter()
            r = http.put(path, json={"title": f"v{i}", "base_version": version, "meta": i})
            latencies.append((time.perf_counter() - started) * 1000.0)
            version = (r.json()["task"] if r.status_code == 409 else r.json())["version"]
    return latencies


def one_round(url: str, n: int, clients: int, writes: int, batch: int, batches: int) -> dict:
    repo = f"bench{n}"
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        runs = list(pool.map(lambda _: put_loop(url, repo, writes), range(clients)))
    put_elapsed = time.perf_counter() - began
    latencies = [x for run in runs for x in run]
    with httpx.Client(base_url=url, timeout=60) as http:
        began = time.perf_counter()
        applied = 0
        for b in range(batches):
            changes = [{"title": f"b{b}-{i}", "meta": i} for i in range(batch)]
            body = http.post(
                f"/repos/sync{n}/sync", json={"client_id": "bench", "changes": changes}
            )
            applied += len(body.json()["applied"])
        sync_elapsed = time.perf_counter() - began
    return {
        "put_p50_ms": round(percentile(latencies, 0.5), 2),
        "put_p99_ms": round(percentile(latencies, 0.99), 2),
        "puts_per_s": round(len(latencies) / put_elapsed),
        "sync_changes_per_s": round(applied / sync_elapsed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--writes", type=int, default=200, help="PUTs per client per round")
    parser.add_argument("--batch", type=int, default=200, help="changes per sync")
    parser.add_argument("--batches", type=int, default=10, help="syncs per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, start_target(data_dir) as target:
        rounds = [
            one_round(target.url, n, args.clients, args.writes, args.batch, args.batches)
            for n in range(args.rounds)
        ]
    keys = ["put_p50_ms", "put_p99_ms", "puts_per_s", "sync_changes_per_s"]
    print(
        json.dumps(
            {
                "bench": "tasks_sync",
                "clients": args.clients,
                "writes_per_client": args.writes,
                "batch": args.batch,
                "rounds": args.rounds,
                **{f"median_{k}": statistics.median(r[k] for r in rounds) for k in keys},
                "per_round": rounds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
