"""Console lines of a headless ``loadkit run``: quiet (default) and ``--verbose``.

Runs the quickstart scenario (scenarios/quickstart.yaml, ~30 s of load on the
built-in target) once each way and counts the lines written to stdout and
stderr: in total, per minute of planned load, loadkit's own (``loadkit:``),
status lines, and Locust's stats tables (each table starts with a ``Type Name``
header). Prints one JSON object.

    .venv/bin/python bench/console_lines.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "quickstart.yaml"
TABLE = re.compile(r"^Type\s+Name\s+# reqs")
STATUS = re.compile(r"^loadkit: \[\s*\d+s/\d+s\] ")


def count(flags: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="loadkit-bench-console-") as tmp:
        started = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "loadkit", "run", str(SCENARIO), "--out", tmp, *flags],
            capture_output=True, text=True, timeout=600, cwd=ROOT,
        )  # fmt: skip
        wall = time.time() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"loadkit run failed ({proc.returncode}): {proc.stderr[-800:]}")
    lines = (proc.stdout + proc.stderr).splitlines()
    planned_min = 30.0 / 60.0
    return {
        "lines": len(lines),
        "lines_per_min_of_load": round(len(lines) / planned_min, 1),
        "loadkit_lines": sum(line.startswith("loadkit:") for line in lines),
        "status_lines": sum(bool(STATUS.match(line)) for line in lines),
        "locust_tables": sum(bool(TABLE.match(line)) for line in lines),
        "http_request_log_lines": sum("HTTP Request:" in line for line in lines),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    result: dict[str, object] = {"figure": "console lines of the 30 s quickstart"}
    result["quiet"] = count([])
    result["verbose"] = count(["--verbose"])
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
