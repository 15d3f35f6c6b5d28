"""What ``loadkit proxy`` costs with no toxic: added latency and achieved rate.

A tiny keep-alive HTTP server (its own process, uvloop) answers every request
with 200 "ok". The same load loop runs against it directly and through a
``loadkit proxy`` process, alternating in rounds so machine noise hits both:

* latency: one connection, sequential requests; p50/p99 per round;
* rate: CONCURRENCY connections in closed loops for RATE_SECONDS per round,
  and the CPU time per request of the proxy and (for scale) of the server;
* bulk: BULK_BYTES streamed through one connection (MB/s).

Prints one JSON object: medians over rounds of direct and proxied p50/p99, the
added p50/p99 (proxied - direct) in ms, the rates and their ratio. Bounded:
about 30 s in all. Run: /work/venv/bin/python bench/proxy_cost.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil

from loadkit.faults.proxy import ToxiproxyClient
from loadkit.faults.proxy.process import ProxyProcess

ROUNDS = 5
LATENCY_REQUESTS = 2000
RATE_ROUNDS = 3
RATE_SECONDS = 2.0
CONCURRENCY = 8
BULK_BYTES = 64 << 20
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


async def rate_round(port: int) -> float:
    """Requests per second of CONCURRENCY closed-loop keep-alive connections."""
    deadline = time.perf_counter() + RATE_SECONDS
    counts = [0] * CONCURRENCY

    async def loop(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            await _request(reader, writer)
            counts[index] += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(loop(i) for i in range(CONCURRENCY)))
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


async def measure(direct: int, proxied: int, proxy_pid: int, server_pid: int) -> dict[str, float]:
    results: dict[str, list[float]] = {
        k: []
        for k in (
            *("d50", "d99", "p50", "p99", "added50", "added99"),
            *("drate", "prate", "cpu_us", "server_cpu_us", "dbulk", "pbulk"),
        )
    }
    await latency_round(direct)  # warm up both paths
    await latency_round(proxied)
    for _ in range(ROUNDS):
        d50, d99 = await latency_round(direct)
        p50, p99 = await latency_round(proxied)
        results["d50"].append(d50)
        results["d99"].append(d99)
        results["p50"].append(p50)
        results["p99"].append(p99)
        results["added50"].append(p50 - d50)
        results["added99"].append(p99 - d99)
    proxy_process, server_process = psutil.Process(proxy_pid), psutil.Process(server_pid)
    for _ in range(RATE_ROUNDS):
        cpu_before = sum(server_process.cpu_times()[:2])
        rate = await rate_round(direct)
        cpu = sum(server_process.cpu_times()[:2]) - cpu_before
        results["drate"].append(rate)
        results["server_cpu_us"].append(cpu / (rate * RATE_SECONDS) * 1e6)
        cpu_before = sum(proxy_process.cpu_times()[:2])
        rate = await rate_round(proxied)
        cpu = sum(proxy_process.cpu_times()[:2]) - cpu_before
        results["prate"].append(rate)
        results["cpu_us"].append(cpu / (rate * RATE_SECONDS) * 1e6)
    for _ in range(RATE_ROUNDS):
        results["dbulk"].append(await bulk_round(direct))
        results["pbulk"].append(await bulk_round(proxied))
    med = {k: statistics.median(v) for k, v in results.items()}
    ratios = [p / d for p, d in zip(results["prate"], results["drate"], strict=True)]
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
        "proxy_cpu_us_per_request": round(med["cpu_us"], 1),
        "server_cpu_us_per_request": round(med["server_cpu_us"], 1),
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


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, "120"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        direct = int(server.stdout.readline())
        with ProxyProcess() as proxy, ToxiproxyClient(proxy.api_url) as client:
            listen = client.create_proxy("bench", "127.0.0.1:0", f"127.0.0.1:{direct}")["listen"]
            proxied = int(listen.rsplit(":", 1)[1])
            assert proxy.process is not None
            figures = _run(measure(direct, proxied, proxy.process.pid, server.pid))
    finally:
        server.kill()
        server.wait()
    figures.update(
        rounds=ROUNDS,
        requests_per_latency_round=LATENCY_REQUESTS,
        rate_rounds=RATE_ROUNDS,
        rate_seconds=RATE_SECONDS,
        concurrency=CONCURRENCY,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
