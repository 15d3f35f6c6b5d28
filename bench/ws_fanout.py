"""WebSocket fan-out of the reference target: write -> every subscriber, end to end.

Starts the real target (gateway + agent) on 127.0.0.1, opens SUBSCRIBERS real
WebSocket clients (asyncio `websockets`, in this process) on one repo, then
posts WRITES task creates at RATE per second, each carrying its write time in
`meta`. Every client checks that `seq` has no gap and records receive time -
write time. Repeated ROUNDS times on fresh repos; prints one JSON object with
the median of each round's figures. Client and server share the machine, so
the end-to-end latency includes the clients' own parsing; ``server_*`` is
write time -> the gateway's ``sent_at`` (HTTP write, commit, queueing, send).

    .venv/bin/python bench/ws_fanout.py [--subscribers 1000] [--writes 50] [--deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time

import httpx
import psutil
from websockets.asyncio.client import connect

from loadkit.target.launcher import start_target

DEADLINE_S = 240.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def one_round(
    url: str,
    gateway: psutil.Process,
    repo: str,
    args: argparse.Namespace,
) -> dict:
    subscribers, writes, rate = args.subscribers, args.writes, args.rate
    compression = "deflate" if args.deflate else None
    ws_url = url.replace("http://", "ws://", 1) + "/ws"
    latencies: list[float] = []
    server: list[float] = []  # write time -> the gateway's sent_at for this client
    gaps = 0
    received = 0

    async def client(ready: asyncio.Event, started: list[int]) -> None:
        nonlocal gaps, received
        async with connect(ws_url, max_queue=None, open_timeout=60, compression=compression) as ws:
            await ws.send(json.dumps({"op": "subscribe", "repos": [repo]}))
            json.loads(await ws.recv())
            started[0] += 1
            if started[0] == subscribers:
                ready.set()
            expected = 1
            while expected <= writes:
                event = json.loads(await ws.recv())
                now = time.time()
                if event["seq"] != expected:
                    gaps += 1
                expected = event["seq"] + 1
                received += 1
                latencies.append((now - event["task"]["meta"]["t"]) * 1000.0)
                server.append((event["sent_at"] - event["task"]["meta"]["t"]) * 1000.0)

    ready = asyncio.Event()
    started = [0]
    tasks = []
    for i in range(subscribers):
        tasks.append(asyncio.create_task(client(ready, started)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # do not flood the accept backlog
    await asyncio.wait_for(ready.wait(), 60)
    began = time.monotonic()
    cpu_before = cpu_s(gateway)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for i in range(writes):
            due = began + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            r = await http.post(
                f"/repos/{repo}/tasks", json={"title": f"w{i}", "meta": {"t": time.time()}}
            )
            r.raise_for_status()
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    elapsed = time.monotonic() - began
    gateway_cpu = cpu_s(gateway) - cpu_before
    return {
        "delivered": received,
        "expected": subscribers * writes,
        "gaps": gaps,
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "server_p50_ms": round(percentile(server, 0.50), 2),
        "server_p99_ms": round(percentile(server, 0.99), 2),
        "deliveries_per_s": round(received / elapsed),
        "gateway_cpu_us_per_delivery": round(gateway_cpu / max(received, 1) * 1e6, 1),
    }


async def main_async(args: argparse.Namespace, url: str, gateway_pid: int) -> list[dict]:
    gateway = psutil.Process(gateway_pid)
    results = []
    for n in range(args.rounds):
        figures = await one_round(url, gateway, f"bench{n}", args)
        results.append(figures)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="writes per second")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--deflate", action="store_true", help="clients offer permessage-deflate (uvicorn accepts)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir, start_target(data_dir) as target:
        started = time.monotonic()
        rounds = asyncio.run(
            asyncio.wait_for(main_async(args, target.url, target.gateway.pid), DEADLINE_S)
        )
        duration = time.monotonic() - started
    keys = ["p50_ms", "p95_ms", "p99_ms", "max_ms", "server_p50_ms", "server_p99_ms"]
    keys += ["deliveries_per_s", "gateway_cpu_us_per_delivery"]
    print(
        json.dumps(
            {
                "bench": "ws_fanout",
                "subscribers": args.subscribers,
                "writes_per_round": args.writes,
                "write_rate_per_s": args.rate,
                "rounds": args.rounds,
                "permessage_deflate": args.deflate,
                "all_delivered": all(r["delivered"] == r["expected"] for r in rounds),
                "gaps": sum(r["gaps"] for r in rounds),
                **{f"median_{k}": statistics.median(r[k] for r in rounds) for k in keys},
                "per_round": rounds,
                "duration_s": round(duration, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
