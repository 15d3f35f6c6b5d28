"""Cost of the live view on the master: feeding an interval, and one /metrics scrape.

Both run on the master's gevent loop (a scrape blocks the local runner's users
while it runs), so they must stay small. Synthetic, in process: ``--endpoints``
endpoints at ``--rate`` requests/s in total, ``--intervals`` one-second
intervals fed to :class:`loadkit.metrics.live.LiveFigures` (latencies drawn
from a log-normal, ~8 ms median with a long tail, 1% failures), then
``--scrapes`` full scrapes (snapshot + text exposition through
``prometheus-client``) of the run's figures, each after one more interval (so
nothing is cached, as with a 1 s scrape interval). Prints one JSON object.

    .venv/bin/python bench/live_scrape.py --intervals 3600
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from loadkit.metrics.intervals import Counts
from loadkit.metrics.live import LiveFigures
from loadkit.metrics.prometheus import metrics_response, registry_for
from loadkit.rundir.hlog import counts_index


def _pool(rng: random.Random, endpoints: int, per_endpoint: int, size: int) -> list[Counts]:
    """``size`` distinct intervals of counts to cycle through."""
    pool: list[Counts] = []
    for _ in range(size):
        counts: Counts = {}
        for e in range(endpoints):
            for ok, n in ((True, per_endpoint - per_endpoint // 100), (False, per_endpoint // 100)):
                buckets: dict[int, int] = {}
                for _ in range(n):
                    index = counts_index(int(rng.lognormvariate(9, 1.2)))
                    buckets[index] = buckets.get(index, 0) + 1
                if buckets:
                    counts[("GET", f"/endpoint/{e}", ok)] = buckets
        pool.append(counts)
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--rate", type=int, default=5000, help="requests/s over all endpoints")
    parser.add_argument("--intervals", type=int, default=3600, help="one-second intervals")
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()

    rng = random.Random(1)
    pool = _pool(rng, args.endpoints, args.rate // args.endpoints, 40)
    figures = LiveFigures()
    start = time.time() - args.intervals
    figures.start_run("bench", "bench", start, 1.0)
    feed: list[float] = []
    for i in range(args.intervals):
        counts = pool[i % len(pool)]
        t0 = time.perf_counter()
        figures.add_interval(int(start) + i, start + i, start + i + 1, counts)
        feed.append(time.perf_counter() - t0)

    registry = registry_for(lambda: figures.snapshot(running=True, users=100))
    scrape: list[float] = []
    size = 0
    for k in range(args.scrapes):  # each after a new interval: nothing cached, as with 1 s scrapes
        i = args.intervals + k
        figures.add_interval(int(start) + i, start + i, start + i + 1, pool[i % len(pool)])
        t0 = time.perf_counter()
        body, _ = metrics_response(registry, "text/plain")
        scrape.append(time.perf_counter() - t0)
        size = len(body)
    snap = figures.snapshot(running=True, users=100)
    buckets = max(len(tally.buckets) for tally in figures._run.values())
    print(
        json.dumps(
            {
                "figure": "live view cost on the master",
                "date": time.strftime("%Y-%m-%d"),
                "command": "bench/live_scrape.py "
                f"--endpoints {args.endpoints} --rate {args.rate} "
                f"--intervals {args.intervals} --scrapes {args.scrapes}",
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "requests_fed": snap.overall_run.requests,
                "feed_interval_ms": {
                    "median": round(statistics.median(feed) * 1000, 3),
                    "p99": round(sorted(feed)[int(len(feed) * 0.99)] * 1000, 3),
                },
                "scrape_ms": {
                    "median": round(statistics.median(scrape) * 1000, 2),
                    "max": round(max(scrape) * 1000, 2),
                },
                "scrape_bytes": size,
                "max_run_buckets_per_endpoint": buckets,
            }
        )
    )


if __name__ == "__main__":
    main()
