"""What ``loadkit run`` costs around the load itself: validation, start-up, report.

Runs ``loadkit run`` on a tiny scenario (WorkspaceUser, 2 users for
``--duration`` seconds, built-in target) ``--rounds`` times and, per round,
splits the wall time into:

* ``startup_s``: command start -> the run's ``run_start`` event (scenario
  check, target start, Locust start, first user);
* ``load_s``: ``run_start`` -> ``run.json``'s ``stopped_at``;
* ``teardown_report_s``: the rest (Locust shutdown, target stop, reporter);
* ``fixed_s``: ``wall_s - load_s``, the cost around the load;
* ``fixed_vs_planned_s``: ``wall_s - DURATION``, the same against the planned load
  (the figure of issue 13: at most 1.5 s);
* ``cpu_s``: user + system CPU of ``loadkit run`` and every process it started
  (the load's too), steadier than wall time on a busy machine.

With ``--ref DIR`` (another checkout of the repo, e.g. ``git archive main |
tar -x -C /tmp/main``) each round also runs ``loadkit run`` from DIR, A and B
interleaved so that both see the same machine; its medians are under ``ref``.

For comparison, plain ``locust -t DURATION --headless`` (an HttpUser on the
target's /health, the target started beforehand and not timed): its
``plain_locust_fixed_s`` is its wall time minus the planned duration.

Also times ``load_scenario`` on scenarios/quickstart.yaml (median of 50, ms).
Prints one JSON object with the medians (the machine is shared: medians only).

    .venv/bin/python bench/run_overhead.py [--rounds 3] [--duration 5] [--ref DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: bench-overhead
description: bench
target: builtin
users: {{WorkspaceUser: 1}}
stages:
  - {{duration: {duration}s, users: 2, spawn_rate: 2}}
"""


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_round(duration: float, root: Path = ROOT) -> dict[str, float]:
    """One ``loadkit run`` of the code in ``root`` (``python -m loadkit`` from there)."""
    with tempfile.TemporaryDirectory(prefix="loadkit-bench-") as tmp:
        scenario = Path(tmp) / "bench-overhead.yaml"
        scenario.write_text(SCENARIO.format(duration=duration))
        out = Path(tmp) / "reports"
        env = dict(os.environ, PYTHONPATH=str(root))  # root's loadkit, not the installed one
        cpu_before = _children_cpu_s()
        started = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", str(out)],
            capture_output=True, text=True, timeout=duration + 300, cwd=root, env=env,
        )  # fmt: skip
        ended = time.time()
        cpu = _children_cpu_s() - cpu_before
        if proc.returncode != 0:
            raise SystemExit(f"loadkit run failed ({proc.returncode}): {proc.stderr[-500:]}")
        run_dir = next(out.glob("*/run.json")).parent
        events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
        run_start = next(e["t"] for e in events if e["type"] == "run_start")
        stopped = json.loads((run_dir / "run.json").read_text())["stopped_at"]
        return {
            "wall_s": ended - started,
            "startup_s": run_start - started,
            "load_s": stopped - run_start,
            "teardown_report_s": ended - stopped,
            "fixed_s": (ended - started) - (stopped - run_start),
            "fixed_vs_planned_s": (ended - started) - duration,
            "cpu_s": cpu,
        }


PLAIN_LOCUSTFILE = """\
from locust import HttpUser, constant, task


class Health(HttpUser):
    wait_time = constant(0.5)

    @task
    def health(self):
        self.client.get("/health")
"""


def plain_locust_round(duration: float) -> float:
    """Wall time of plain ``locust -t`` minus ``duration`` (target already running)."""
    from loadkit.target.launcher import start_target

    with tempfile.TemporaryDirectory(prefix="loadkit-bench-plain-") as tmp:
        locustfile = Path(tmp) / "plain_locustfile.py"
        locustfile.write_text(PLAIN_LOCUSTFILE)
        target = start_target(Path(tmp) / "target")
        try:
            started = time.time()
            subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
                 "-u", "2", "-r", "2", "-t", f"{duration:g}s", "--host", target.url,
                 "--only-summary"],
                capture_output=True, text=True, timeout=duration + 120, check=True, cwd=tmp,
            )  # fmt: skip
            return time.time() - started - duration
        finally:
            target.stop()


def validate_ms(samples: int = 50) -> float:
    from loadkit.scenario.load import load_scenario

    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        load_scenario(ROOT / "scenarios" / "quickstart.yaml")
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


KEYS = ("wall_s", "startup_s", "load_s", "teardown_report_s", "fixed_s", "fixed_vs_planned_s",
        "cpu_s")  # fmt: skip


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {f"{key}_median": round(statistics.median(r[key] for r in rounds), 2) for key in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--ref", type=Path, help="another checkout, run interleaved (A B A B)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rounds, ref_rounds = [], []
    for _ in range(args.rounds):
        rounds.append(one_round(args.duration))
        if args.ref is not None:
            ref_rounds.append(one_round(args.duration, args.ref.resolve()))
    result: dict[str, object] = {
        "figure": "loadkit run overhead around the load",
        "rounds": args.rounds,
        "planned_load_s": args.duration,
        **_medians(rounds),
        "fixed_vs_planned_s_all": [round(r["fixed_vs_planned_s"], 2) for r in rounds],
    }
    if args.ref is not None:
        result["ref"] = {
            "dir": str(args.ref),
            **_medians(ref_rounds),
            "fixed_vs_planned_s_all": [round(r["fixed_vs_planned_s"], 2) for r in ref_rounds],
        }
    plain = [plain_locust_round(args.duration) for _ in range(args.rounds)]
    result["plain_locust_fixed_s_median"] = round(statistics.median(plain), 2)
    result["load_average"] = [round(x, 2) for x in (*load_before, os.getloadavg()[0])]
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    result["validate_quickstart_ms_median"] = round(validate_ms(), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
