"""A fault window holds exactly what was recorded inside it (real Locust runs).

Intervals are 1 s long and fixed to the epoch; a fault starts and ends anywhere in
one. The local runner cuts the interval at each fault event, so no line of
``latency.hlog`` straddles a window's edge. Before, a window took whole intervals by
their middle: up to half an interval of what came before the injection or after the
revert (an unaffected service's fast requests) counted as "during" the fault, and as
much of the window was missed. Task-sync's 3 s latency window read p50 1.9 ms so.

With workers, the master tells them to cut: what a worker counts between the event and
the message's arrival (ms on loopback) falls before the cut.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from metrics_support import LOCUST, LOCUSTFILES, free_port, run_dirs

from loadkit.report.analysis import analyse, series_slots
from loadkit.rundir.hlog import decode_tag, read_log
from loadkit.rundir.reader import load_run_dir

pytestmark = pytest.mark.slow

CLOCK = "CLOCK now"
# A 2.5 s window: whatever its start's place in a 1 s interval, whole intervals by their
# middle put a line across an edge (measured before the fix: 3 runs of 3), and take in
# events from before the injection or after the revert, or leave out up to half a second
# of the window. The clock ticks every 10 ms; its values are exact to 0.1 % (HDR).
FAULT_FOR_S = 2.5
# The clock's next tick after an edge (10 ms, more on a busy machine: the suite runs on
# three workers), and a worker's cut message on its way. Nothing from outside the window
# is allowed either way: those bounds are the HDR precision only (local).
EDGE_MS = 250.0


def _run(tmp_path: Path, url: str, workers: int) -> tuple[Path, float]:
    flag = tmp_path / "flag"
    plan = tmp_path / "faults.yaml"
    plan.write_text(yaml.safe_dump({"faults": [{
        "name": "flag", "at": "1.3s", "for": f"{FAULT_FOR_S}s", "kind": "exec",
        "command": ["touch", str(flag)], "revert": ["rm", "-f", str(flag)],
    }]}))  # fmt: skip
    origin = time.time()
    out = tmp_path / "reports"
    command = [
        LOCUST, "-f", str(LOCUSTFILES / "clock.py"), "-t", "5s", "--host", url,
        "--loadkit-out", str(out), "--loadkit-faults", str(plan),
        "--loadkit-faults-index", str(tmp_path / "index"),
    ]  # fmt: skip
    if workers:  # forked workers, one ClockUser each
        port = str(free_port())
        command += [
            "--processes", str(workers), "-u", str(workers), "-r", str(workers),
            "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port,
            "--autostart", "--autoquit", "5", "--web-host", "127.0.0.1",
            "--web-port", str(free_port()),
        ]  # fmt: skip
    else:
        command += ["--headless", "-u", "1", "-r", "1"]
    env = {**os.environ, "LK_CLOCK_ORIGIN": repr(origin), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    [run_dir] = run_dirs(out)
    return run_dir, origin


@pytest.mark.parametrize("workers", [0, 2], ids=["local", "two-workers"])
def test_a_fault_window_holds_exactly_the_events_recorded_inside_it(
    tmp_path, server, workers
) -> None:
    run_dir, origin = _run(tmp_path, server[0], workers)
    run = load_run_dir(run_dir)
    analysis = analyse(run)
    [window] = [phase for phase in analysis.phases if phase.name == "fault:flag"]
    assert window.duration_s == pytest.approx(FAULT_FOR_S, abs=0.2)

    # no line of the log straddles an edge of the window (the log has times in ms)
    lines = [h for h in read_log(run_dir / "latency.hlog") if decode_tag(h.tag)[1] == CLOCK]
    assert len(lines) >= 5
    for line in lines:
        for edge in (window.start_s, window.end_s):
            assert not line.start_s + 2e-3 < edge < line.end_s - 2e-3, (line, window)

    # the window's first and last events are at its edges: nothing from outside, nothing lost
    start_ms = (run.start_time + window.start_s - origin) * 1000
    end_ms = (run.start_time + window.end_s - origin) * 1000
    first = analysis.stat("fault:flag", CLOCK, "min")
    last = analysis.stat("fault:flag", CLOCK, "max")
    late = EDGE_MS if workers else 0.0  # a worker cuts when the master's message comes
    assert start_ms * 0.998 <= first <= start_ms + EDGE_MS, (first, start_ms)
    assert end_ms - EDGE_MS <= last <= end_ms * 1.002 + late, (last, end_ms)


def test_a_cut_row_stays_in_the_chart_slot_of_its_interval() -> None:
    """Rows of one wall-clock interval share one over-time slot, cut or not."""
    start_time = 1_796_000_000.06  # the interval boundaries fall at 0.94 s, 1.94 s, ...
    # the first partial interval, two intervals cut at 1.316 s and 3.814 s, the last one
    t = np.array([0.0, 0.94, 1.316, 1.94, 2.94, 3.814, 3.94])
    assert series_slots(t, 1.0, start_time).tolist() == [0, 0, 0, 1, 2, 2, 3]
    uncut = np.array([0.0, 0.94, 1.94, 2.94, 3.94])  # as before cuts: floor(t)
    assert series_slots(uncut, 1.0, start_time).tolist() == [0, 0, 1, 2, 3]
    # 2 s intervals: boundaries at 1.5 s, 3.5 s; a cut at 2.2 s
    two = series_slots(np.array([0.0, 1.5, 2.2, 3.5]), 2.0, 1_796_000_000.5)
    assert two.tolist() == [0, 0, 0, 1]
