"""Run one bench script and keep its JSON with the date, the command and the load average.

    .venv/bin/python bench/record.py target_throughput.py -- --rounds 3
    .venv/bin/python bench/record.py --tag after run_overhead.py -- --rounds 5

Runs ``bench/SCRIPT`` with this Python from the repo root, reads the one JSON
object it prints and writes ``bench/results/NAME-YYYYMMDD[-TAG].json``: the
script's object under ``result``, plus ``date`` (UTC), ``command`` (as typed
from the repo root), ``load_average_before`` / ``load_average_after`` (1, 5,
15 min), ``cpus``, ``wall_s`` and ``git_commit``. bench/README.md quotes these
files, so each figure can be traced to its run and re-run the same way.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def _commit() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    return proc.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("script", help="a script in bench/, e.g. run_overhead.py")
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the script's flags")
    args = parser.parse_args()
    script = BENCH / args.script
    if not script.is_file():
        raise SystemExit(f"record: no bench script {script}")
    flags = args.args[1:] if args.args[:1] == ["--"] else args.args
    command = shlex.join([".venv/bin/python", f"bench/{script.name}", *flags])
    now = datetime.datetime.now(datetime.UTC)
    before = os.getloadavg()
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(script), *flags], stdout=subprocess.PIPE, cwd=ROOT)
    wall = time.monotonic() - started
    after = os.getloadavg()
    if proc.returncode != 0:
        raise SystemExit(f"record: {command} exited {proc.returncode}")
    lines = [line for line in proc.stdout.decode().splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"record: {command} printed no JSON object")
    record = {
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "load_average_before": [round(x, 2) for x in before],
        "load_average_after": [round(x, 2) for x in after],
        "cpus": os.cpu_count(),
        "wall_s": round(wall, 1),
        "git_commit": _commit(),
        "result": json.loads(lines[-1]),
    }
    name = script.stem + now.strftime("-%Y%m%d") + (f"-{args.tag}" if args.tag else "")
    out = BENCH / "results" / f"{name}.json"
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: {json.dumps(record['result'])[:400]}")


if __name__ == "__main__":
    main()
