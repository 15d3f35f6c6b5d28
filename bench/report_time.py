"""Time and peak memory of ``loadkit report`` on a synthetic run of ``--hours``.

The run: one-second intervals, 5,000 requests/s over 20 endpoints (1 h: 18 M
requests, 137,640 interval histograms, ~40 MB of .hlog), two faults, 1 % errors, a memory
trend. The run directory is generated once (not timed, or reused with ``--run-dir``);
then ``python -m loadkit report`` runs ``--repeat`` times in a fresh process and we
report the median wall time, CPU time (its decoding worker processes included)
and peak RSS of that process and of its workers (imports,
plots, HTML and all; on a shared machine the CPU time is the steadier figure).
``--in-memory`` measures the reader that loads every interval histogram (the
reporter before the streamed pass) instead. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadkit.rundir.synthetic import SyntheticFault, SyntheticRun, write_run_dir

_IN_MEMORY = (
    "import loadkit.report.report as r\n"
    "from loadkit.report.analysis import analyse\n"
    "from loadkit.rundir.reader import load_run_dir\n"
    "r.analyse_run_dir = lambda d: analyse(load_run_dir(d))\n"
)


def _measure(run_dir: Path, out: Path, in_memory: bool) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak RSS bytes, workers' peak RSS bytes) of one report in
    a child process; the CPU time includes its decoding worker processes'."""
    code = (
        "import resource, sys, time\n"
        "def children():\n"
        "    usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "    return usage.ru_utime + usage.ru_stime\n"
        "started, cpu, child = time.perf_counter(), time.process_time(), children()\n"
        + (_IN_MEMORY if in_memory else "")
        + "from loadkit.cli import main\n"
        f"code = main(['report', {str(run_dir)!r}, '--out', {str(out)!r}])\n"
        "elapsed = time.perf_counter() - started\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "used = time.process_time() - cpu + children() - child\n"
        "print(elapsed, used, peak, worker_peak, code, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=3600, check=False
    )
    elapsed, cpu, peak, worker_peak, exit_code = proc.stderr.strip().splitlines()[-1].split()
    if exit_code not in ("0", "1"):
        raise SystemExit(f"report failed: {proc.stderr}")
    return float(elapsed), float(cpu), int(peak), int(worker_peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--run-dir", type=Path, help="reuse (or keep) the synthetic run here")
    parser.add_argument("--in-memory", action="store_true", help="the reader before streaming")
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.duration_s = args.hours * 3600.0
    with tempfile.TemporaryDirectory(prefix="loadkit-bench-report-") as tmp:
        run = SyntheticRun(
            name="bench",
            endpoints=[f"GET /endpoint/{i}" for i in range(args.endpoints)],
            duration_s=args.duration_s,
            rate=args.rate,
            error_rate=0.01,
            faults=[
                SyntheticFault("slow-net", args.duration_s * 0.3, 60, recover_s=10),
                SyntheticFault(
                    "gw-pause",
                    args.duration_s * 0.6,
                    10,
                    kind="pause",
                    latency_factor=20,
                    recover_s=10,
                ),
            ],
            memory_mb_per_hour=30.0,
            checks=["p95 < 1s", "recovery(gw-pause) < 60s"],
        )
        started = time.perf_counter()
        run_dir = args.run_dir or Path(tmp) / "run"
        if not (run_dir / "latency.hlog").exists():
            write_run_dir(run, run_dir)
        generated_s = time.perf_counter() - started
        hlog_mb = (run_dir / "latency.hlog").stat().st_size / 1e6
        lines = sum(1 for _ in (run_dir / "latency.hlog").open()) - 3
        load_before = round(os.getloadavg()[0], 2)
        samples = [
            _measure(run_dir, Path(tmp) / f"out{i}", args.in_memory) for i in range(args.repeat)
        ]
    times = [s[0] for s in samples]
    print(
        json.dumps(
            {
                "figure": "report_time",
                "reader": "in-memory" if args.in_memory else "streamed",
                "hours": args.hours,
                "duration_s": args.duration_s,
                "rate_per_s": args.rate,
                "endpoints": args.endpoints,
                "requests": int(args.duration_s * args.rate),
                "histograms": lines,
                "hlog_mb": round(hlog_mb, 1),
                "generate_s": round(generated_s, 1),
                "report_s_median": round(statistics.median(times), 2),
                "report_s_all": [round(t, 2) for t in times],
                "report_cpu_s_median": round(statistics.median(s[1] for s in samples), 2),
                "peak_rss_mb_median": round(statistics.median(s[2] for s in samples) / 2**20, 1),
                "worker_peak_rss_mb_median": round(
                    statistics.median(s[3] for s in samples) / 2**20, 1
                ),
                "load_avg_1m_before": load_before,
                "cpus": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
