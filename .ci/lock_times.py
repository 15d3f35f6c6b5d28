"""Sum up a suite run's lock log (``LOADKIT_LOCK_LOG``, see tests/exclusive.py).

    python .ci/lock_times.py FILE [--top N]

Prints, in seconds: the wall time from the first test to the last; the time
exclusive tests held the lock (nothing ran beside them: the critical path) and
waited for it; the time shared tests held it (divided by the number of workers:
their share of the wall at best) and waited for it; each worker's idle time;
and the files and tests that held or waited longest.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def _file(test: str) -> str:
    return test.split("::", 1)[0]


def summary(lines: list[dict[str, Any]], top: int) -> dict[str, Any]:
    start = min(line["asked"] for line in lines)
    end = max(line["released"] for line in lines)
    workers = sorted({line["worker"] for line in lines})
    hold: dict[bool, float] = defaultdict(float)
    wait: dict[bool, float] = defaultdict(float)
    count: dict[bool, int] = defaultdict(int)
    busy: dict[str, float] = defaultdict(float)
    by_file: dict[str, float] = defaultdict(float)
    for line in lines:
        held = line["released"] - line["got"]
        hold[line["exclusive"]] += held
        wait[line["exclusive"]] += line["got"] - line["asked"]
        count[line["exclusive"]] += 1
        busy[line["worker"]] += held
        if line["exclusive"]:
            by_file[_file(line["test"])] += held
    wall = end - start

    def rounded(pairs: list[tuple[str, float]]) -> list[tuple[str, float]]:
        return [(name, round(value, 1)) for name, value in pairs[:top]]

    holds = sorted(
        ((line["test"], line["released"] - line["got"]) for line in lines if line["exclusive"]),
        key=lambda pair: -pair[1],
    )
    waits = sorted(
        ((line["test"], line["got"] - line["asked"]) for line in lines), key=lambda pair: -pair[1]
    )
    return {
        "wall_s": round(wall, 1),
        "workers": len(workers),
        "exclusive": {
            "tests": count[True],
            "hold_s": round(hold[True], 1),
            "wait_s": round(wait[True], 1),
        },
        "shared": {
            "tests": count[False],
            "hold_s": round(hold[False], 1),
            "hold_per_worker_s": round(hold[False] / max(len(workers), 1), 1),
            "wait_s": round(wait[False], 1),
        },
        "lower_bound_s": round(hold[True] + hold[False] / max(len(workers), 1), 1),
        "idle_s": {worker: round(wall - busy[worker], 1) for worker in workers},
        "exclusive_hold_by_file": rounded(sorted(by_file.items(), key=lambda pair: -pair[1])),
        "longest_exclusive_holds": rounded(holds),
        "longest_waits": rounded(waits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    lines = [json.loads(text) for text in args.log.read_text().splitlines() if text.strip()]
    print(json.dumps(summary(lines, args.top), indent=2))


if __name__ == "__main__":
    main()
