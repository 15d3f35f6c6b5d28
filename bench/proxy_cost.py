"""What ``loadkit proxy`` costs with no toxic: added latency and achieved rate.

A tiny keep-alive HTTP server (its own process, uvloop) answers every request
with 200 "ok". The same load loop (this process, the client) runs against it
directly and through a ``loadkit proxy`` process, in interleaved rounds (which
of direct/proxied goes first alternates) so machine noise hits both:

* latency: one connection, sequential requests; p50/p99 per round;
* rate: CONCURRENCY (``--concurrency``) connections in closed loops for
  RATE_SECONDS per round, the CPU time per request of the proxy, the server
  and the client, and how often per request the proxy was preempted
  (involuntary context switches: the client, the server or another process
  took its CPU; pinned, only other processes can);
* bulk: BULK_BYTES streamed through one connection (MB/s).

Placements (``figures`` are given for each, medians over its rounds):

* ``unpinned``: every process may run on every CPU. On a small machine the
  client, server and proxy compete for CPU, so ``rate_ratio`` then measures
  the proxy's CPU cost as much as its delay: when CPU-bound it approaches
  ``cpu_bound_ratio_estimate`` = (client+server)/(client+server+proxy) CPU.
* ``pinned`` (``--pin``, needs 2 CPUs): client and server on CPU 0 in both the
  direct and the proxied rounds, the proxy alone on CPU 1 (set with
  sched_setaffinity on every thread, between rounds): what the proxy costs
  when it does not take the load generator's CPU, as a proxy running beside
  the service on a real host. Other processes on the machine are not pinned.

Prints one JSON object: per placement the medians of direct and proxied
p50/p99, the added p50/p99 (proxied - direct) in ms, the rates and their ratio
(median of per-round ratios), CPU per request, bulk MB/s; plus the load
average before and after (other work on the machine skews every figure, the
pinned ones most). Bounded: about 30 s, 60 s with --pin.
Run: .venv/bin/python bench/proxy_cost.py [--pin] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil

from loadkit.proxy import ToxiproxyClient
from loadkit.proxy.process import ProxyProcess

ROUNDS = 5
LATENCY_REQUESTS = 2000
RATE_ROUNDS = 4
RATE_SECONDS = 2.0
CONCURRENCY = 8
BULK_BYTES = 64 << 20
#: Processes whose CPU time is measured during rate rounds.
WATCHED = ("proxy", "server", "client")
REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

SERVER = r"""
import asyncio, sys
try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
class Ok(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.tail = transport, b""
    def data_received(self, data):
        buffer = self.tail + data  # a 3-byte tail cannot hold a whole terminator
        self.transport.write(RESPONSE * buffer.count(b"\r\n\r\n"))
        self.tail = buffer[-3:]
async def main():
    server = await asyncio.get_running_loop().create_server(Ok, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[1]))  # bounded lifetime
asyncio.run(main())
"""


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    await _request_answer(reader)


async def latency_round(port: int) -> tuple[float, float]:
    """(p50, p99) in ms of sequential keep-alive requests on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    samples: list[float] = []
    for _ in range(LATENCY_REQUESTS):
        start = time.perf_counter()
        await _request(reader, writer)
        samples.append((time.perf_counter() - start) * 1000)
    writer.close()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99)]


async def rate_round(port: int, concurrency: int = CONCURRENCY) -> float:
    """Requests per second of ``concurrency`` closed-loop keep-alive connections."""
    deadline = time.perf_counter() + RATE_SECONDS
    counts = [0] * concurrency

    async def loop(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            await _request(reader, writer)
            counts[index] += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    return sum(counts) / (time.perf_counter() - start)


async def bulk_round(port: int) -> float:
    """MB/s of BULK_BYTES sent to the server and drained (the server ignores them)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunk = b"x" * (1 << 20)
    start = time.perf_counter()
    for _ in range(BULK_BYTES // len(chunk)):
        writer.write(chunk)
        await writer.drain()
    writer.write(REQUEST)  # the answer proves every byte before it went through
    await _request_answer(reader)
    elapsed = time.perf_counter() - start
    writer.close()
    return BULK_BYTES / elapsed / 1e6


async def _request_answer(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    await reader.readexactly(length)


class Placement:
    """Moves the client, server and proxy between CPUs for a round."""

    def __init__(self, server_pid: int, proxy_pid: int) -> None:
        self.server, self.proxy = psutil.Process(server_pid), psutil.Process(proxy_pid)
        self.client = psutil.Process()
        self.all_cpus = sorted(os.sched_getaffinity(0))

    def cpus(self, mode: str) -> tuple[set[int], set[int]]:
        """(client and server CPUs, proxy CPUs) in a placement."""
        if mode == "pinned":
            return {self.all_cpus[0]}, {self.all_cpus[1]}
        return set(self.all_cpus), set(self.all_cpus)

    def describe(self, mode: str) -> str:
        client_cpus, proxy_cpus = self.cpus(mode)
        return f"client+server on CPUs {sorted(client_cpus)}, proxy on CPUs {sorted(proxy_cpus)}"

    def apply(self, mode: str) -> None:
        client_cpus, proxy_cpus = self.cpus(mode)
        for process, cpus in (
            (self.client, client_cpus),
            (self.server, client_cpus),
            (self.proxy, proxy_cpus),
        ):
            for thread in process.threads():  # affinity is per thread on Linux
                with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                    os.sched_setaffinity(thread.id, cpus)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _rate_with_cpu(
    port: int, placement: Placement, into: dict[str, list[float]], prefix: str, concurrency: int
) -> None:
    watched = dict(zip(WATCHED, (placement.proxy, placement.server, placement.client), strict=True))
    before = {name: _cpu_s(process) for name, process in watched.items()}
    preempted = placement.proxy.num_ctx_switches().involuntary
    rate = await rate_round(port, concurrency)
    requests = rate * RATE_SECONDS
    preempted = placement.proxy.num_ctx_switches().involuntary - preempted
    into[f"{prefix}proxy_preempted"].append(preempted / requests)
    into[f"{prefix}rate"].append(rate)
    for name, process in watched.items():
        used = _cpu_s(process) - before[name]
        into[f"{prefix}{name}_cpu_us"].append(used / requests * 1e6)


async def measure(
    direct: int, proxied: int, placement: Placement, modes: list[str], concurrency: int
) -> Any:
    results: dict[str, dict[str, list[float]]] = {m: _series() for m in modes}
    placement.apply(modes[0])
    await latency_round(direct)  # warm up both paths
    await latency_round(proxied)
    for index in range(ROUNDS):
        for mode in modes:
            placement.apply(mode)
            latencies: dict[int, tuple[float, float]] = {}
            for port in _ordered(direct, proxied, index):
                latencies[port] = await latency_round(port)
            (d50, d99), (p50, p99) = latencies[direct], latencies[proxied]
            for key, value in (("d50", d50), ("d99", d99), ("p50", p50), ("p99", p99)):
                results[mode][key].append(value)
            results[mode]["added50"].append(p50 - d50)
            results[mode]["added99"].append(p99 - d99)
    for index in range(RATE_ROUNDS):
        for mode in modes:
            placement.apply(mode)
            for port in _ordered(direct, proxied, index):
                prefix = "d" if port == direct else "p"
                await _rate_with_cpu(port, placement, results[mode], prefix, concurrency)
    for index in range(RATE_ROUNDS):
        for mode in modes:
            placement.apply(mode)
            for port in _ordered(direct, proxied, index):
                prefix = "d" if port == direct else "p"
                results[mode][f"{prefix}bulk"].append(await bulk_round(port))
    placement.apply("unpinned")
    return {
        mode: {"placement": placement.describe(mode), **_figures(series)}
        for mode, series in results.items()
    }


def _series() -> dict[str, list[float]]:
    per_path = ("rate", "proxy_preempted", *(f"{name}_cpu_us" for name in WATCHED))
    keys = ["d50", "d99", "p50", "p99", "added50", "added99", "dbulk", "pbulk"]
    keys += [f"{path}{key}" for path in "dp" for key in per_path]
    return {key: [] for key in keys}


def _ordered(direct: int, proxied: int, index: int) -> tuple[int, int]:
    """Direct first in even rounds, proxied first in odd ones."""
    return (direct, proxied) if index % 2 == 0 else (proxied, direct)


def _figures(series: dict[str, list[float]]) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in series.items()}
    ratios = [p / d for p, d in zip(series["prate"], series["drate"], strict=True)]
    load_cpu = med["dserver_cpu_us"] + med["dclient_cpu_us"]
    return {
        "direct_p50_ms": round(med["d50"], 4),
        "proxy_p50_ms": round(med["p50"], 4),
        "added_p50_ms": round(med["added50"], 4),
        "direct_p99_ms": round(med["d99"], 4),
        "proxy_p99_ms": round(med["p99"], 4),
        "added_p99_ms": round(med["added99"], 4),
        "direct_rps": round(med["drate"]),
        "proxy_rps": round(med["prate"]),
        "rate_ratio": round(statistics.median(ratios), 3),
        "proxy_cpu_us_per_request": round(med["pproxy_cpu_us"], 1),
        "server_cpu_us_per_request": round(med["dserver_cpu_us"], 1),
        "client_cpu_us_per_request": round(med["dclient_cpu_us"], 1),
        "proxy_preemptions_per_request": round(med["pproxy_preempted"], 3),
        "cpu_bound_ratio_estimate": round(load_cpu / (load_cpu + med["pproxy_cpu_us"]), 3),
        "direct_bulk_mb_s": round(med["dbulk"]),
        "proxy_bulk_mb_s": round(med["pbulk"]),
        "bulk_ratio": round(med["pbulk"] / med["dbulk"], 3),
    }


def _run(coro: Any) -> Any:
    """Run on uvloop when available: the client's own cost then weighs less."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pin",
        action="store_true",
        help="also measure with client+server on CPU 0 and the proxy alone on CPU 1",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help=f"connections in the rate rounds (default {CONCURRENCY})",
    )
    args = parser.parse_args()
    if args.concurrency < 1:
        print("proxy_cost: --concurrency must be at least 1", file=sys.stderr)
        return 2
    modes = ["unpinned", "pinned"] if args.pin else ["unpinned"]
    if args.pin and len(os.sched_getaffinity(0)) < 2:
        print("proxy_cost: --pin needs 2 CPUs; this process may use only 1", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, "180"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        direct = int(server.stdout.readline())
        with ProxyProcess() as proxy, ToxiproxyClient(proxy.api_url) as client:
            listen = client.create_proxy("bench", "127.0.0.1:0", f"127.0.0.1:{direct}")["listen"]
            proxied = int(listen.rsplit(":", 1)[1])
            assert proxy.process is not None
            placement = Placement(server.pid, proxy.process.pid)
            figures = _run(measure(direct, proxied, placement, modes, args.concurrency))
    finally:
        server.kill()
        server.wait()
    figures.update(
        load_average_before=[round(x, 2) for x in load_before],
        load_average_after=[round(x, 2) for x in os.getloadavg()],
        cpus=len(os.sched_getaffinity(0)),
        rounds=ROUNDS,
        requests_per_latency_round=LATENCY_REQUESTS,
        rate_rounds=RATE_ROUNDS,
        rate_seconds=RATE_SECONDS,
        concurrency=args.concurrency,
        bulk_rounds=RATE_ROUNDS,
        bulk_bytes=BULK_BYTES,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
