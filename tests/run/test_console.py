"""The console of a headless `loadkit run`: quiet by default, Locust's tables with --verbose.

Real runs (built-in target, Locust, an http fault whose calls httpx logs): the
quiet console carries a status line every few seconds with loadkit's own
figures and no periodic Locust table; ``--verbose`` brings the tables and the
library logs back. The unit tests feed :class:`RunStatus` a real interval log.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loadkit.errors import EXIT_OK
from loadkit.run.command import STATUS_EVERY_S
from loadkit.run.status import RunStatus
from loadkit.rundir.synthetic import SyntheticFault, SyntheticRun, write_run_dir

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: console
target: builtin
users: {WorkspaceUser: 2, SessionBurstUser: 1}
stages:
  - {name: ramp, duration: 3s, users: 3, spawn_rate: 3}
  - {name: steady, duration: 9s, users: 3}
faults:
  - {name: slow-execute, at: 4s, for: 4s, kind: app-latency, via: http, path: /execute,
     latency: 100ms}
checks:
  - count > 5
"""
TABLE_HEADER = re.compile(r"^Type\s+Name\s+# reqs", re.MULTILINE)
STATUS = re.compile(
    r"^loadkit: \[\s*\d+s/12s\] stage (ramp|steady) \| 3 users \| [0-9.]+ req/s \| "
    r"errors [0-9.]+% \| p95 \d+ ms \| faults: (none|slow-execute)$",
    re.MULTILINE,
)


def _run(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    scenario = tmp_path / "console.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO))
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", str(tmp_path / "out"),
         *flags],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.slow
def test_a_headless_run_prints_status_lines_not_locust_tables(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == EXIT_OK, proc.stdout[-3000:] + proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    statuses = STATUS.findall(console)
    # one every 5 s of a 12 s run (plus start-up slack), each with loadkit's own p95
    assert 1 <= len(statuses) <= 12 / STATUS_EVERY_S + 2, console
    assert "loadkit: [" in console and "stage 2 'steady'" in console
    assert "fault 'slow-execute' (app-latency) injected" in console
    assert "HTTP Request:" not in console  # httpx's line per fault call
    assert "Ramping to" not in console  # Locust's INFO logs
    assert not TABLE_HEADER.search(console)  # no Locust table: loadkit's summary only
    endpoints = len(re.findall(r"^  \S+ \S+.*%", proc.stdout, re.MULTILINE))
    assert endpoints >= 3  # loadkit's own summary table
    # the rest is bounded: a few lines per event and status, and the summary per endpoint
    assert len(console.splitlines()) <= 25 + endpoints, console


@pytest.mark.slow
def test_verbose_brings_locust_tables_and_library_logs_back(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--verbose")
    assert proc.returncode == EXIT_OK, proc.stdout[-3000:] + proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert len(TABLE_HEADER.findall(console)) >= 3  # Locust's table every 2 s, and its summary
    assert "HTTP Request:" in console
    assert STATUS.search(console)


def test_status_line_reads_the_last_interval_of_the_latency_log(tmp_path: Path) -> None:
    run_dir = write_run_dir(
        SyntheticRun(
            name="status",
            endpoints=["POST /execute", "GET /status/[id]", "JOB echo"],
            duration_s=10,
            rate=1500,
            error_rate=0.1,
            median_ms={"POST /execute": 40.0, "GET /status/[id]": 40.0, "JOB echo": 9000.0},
            faults=[SyntheticFault("slow", 2, 100, reverted=False)],
        ),
        tmp_path / "run",
    )
    status = RunStatus(run_dir, planned_s=10)
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        status.on_event(json.loads(line))
    line = status.line(now=(status.start or 0) + 7.2)
    figures = status.latency.last
    assert figures is not None and figures.start_s == 9.0
    # request events only (the JOB composite is left out, like the report's ALL row)
    assert 900 <= figures.count <= 1100 and 0.05 < figures.failures / figures.count < 0.15
    assert figures.p95_ms is not None and 80 < figures.p95_ms < 2000  # the fault: 5 x slower
    assert line.startswith("[    7s/10s] ")
    assert f"{figures.count / 1.0:.1f} req/s" in line
    assert f"p95 {figures.p95_ms:.0f} ms" in line and "faults: slow" in line
