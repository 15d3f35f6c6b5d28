"""How long a ``kind: kill`` with ``for: S`` really keeps a process down, idle and busy.

Starts the reference target, then kills its agent N times through the
launcher's control path (what the process fault backend asks:
``kill?back_after_s=S``, then ``start`` at S), while an independent poller
(its own thread, GET /health every 10 ms) records when the agent stopped and
started answering. With ``--busy K``, K processes spin on the CPU meanwhile
(on 2 cores, K=3 leaves the launcher and the agent a fraction of a core).

    python bench/kill_for.py [--kills 5] [--for 3] [--busy 0 3] [--out FILE]

Prints one JSON object: per busy level, the outage as the fault records it
(signal -> ``ready_at``) and as the poller saw it, each kill and median/max.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from loadkit.target.launcher import RunningTarget, start_target


def _spin(until: float) -> None:
    while time.time() < until:
        pass


class Poller(threading.Thread):
    """GET /health every 10 ms; the first outage: (refused since, answering again at)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.down, self.up = url, 0.0, 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while not self.stop.is_set() and not self.up:
                now = time.time()
                try:
                    ok = client.get(self.url).status_code == 200
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                    ok = False
                except httpx.TimeoutException:
                    continue
                if not ok and not self.down:
                    self.down = now
                elif ok and self.down:
                    self.up = time.time()
                time.sleep(0.01)


def one_kill(target: RunningTarget, for_s: float) -> dict[str, float]:
    poller = Poller(f"{target.agent_url}/health")
    poller.start()
    time.sleep(0.3)
    killed = target.act("agent", "kill", for_s)
    signalled = float(killed["signalled_at"])
    time.sleep(max(0.0, signalled + for_s - time.time()))  # the schedule's revert, on time
    started = target.act("agent", "start")
    poller.join(timeout=30)
    poller.stop.set()
    return {
        "recorded_s": round(float(started["ready_at"]) - signalled, 3),
        "poller_s": round(poller.up - poller.down, 3) if poller.up else -1.0,
    }


def level(target: RunningTarget, kills: int, for_s: float, busy: int) -> dict[str, Any]:
    spinners = [
        multiprocessing.Process(target=_spin, args=(time.time() + 3600,)) for _ in range(busy)
    ]
    for spinner in spinners:
        spinner.start()
    try:
        trials = [one_kill(target, for_s) for _ in range(kills)]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.join()
    recorded = [t["recorded_s"] for t in trials]
    seen = [t["poller_s"] for t in trials]
    return {
        "busy_processes": busy,
        "kills": trials,
        "recorded_median_s": round(statistics.median(recorded), 3),
        "recorded_max_s": max(recorded),
        "poller_median_s": round(statistics.median(seen), 3),
        "poller_max_s": max(seen),
        "within_half_second": sum(1 for r in recorded if abs(r - for_s) <= 0.5),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--for", dest="for_s", type=float, default=3.0)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.time()
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="kill-for-") as tmp, start_target(tmp) as target:
        levels = [level(target, args.kills, args.for_s, busy) for busy in args.busy]
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        "command": " ".join(["python", "bench/kill_for.py", *sys.argv[1:]]),
        "load_average": load,
        "cpus": os.cpu_count(),
        "for_s": args.for_s,
        "levels": levels,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
