"""Recovery time after each fault: how long until latency and errors are back to normal.

Like the ALL row, recovery looks at request events only (not jobs or sessions).
The pre-fault level is the merged p95 and error rate of the up to
``PRE_WINDOW_S`` seconds before the injection (outside any other fault). After
the revert, an interval is *healthy* when its overall p95 is within
``P95_TOLERANCE`` of that level (plus ``P95_FLOOR_MS``, so that a few ms of noise on
a fast service does not count) and its error rate within
``ERROR_RATE_TOLERANCE`` of it. The recovery time is the time from the revert
to the start of the first run of ``HEALTHY_INTERVALS`` healthy intervals; an
interval without any request is not healthy (the target is not answering).
A fault that never gets there before the next fault or the end of the run
"did not recover".

A ``restart`` is different: its outage is not a duration the scenario chose
(as ``for:`` is) but how long the service takes to come back, so it counts:
its recovery is measured from the inject (the stop), and is never shorter
than its window (stop until the process answers again). ``recovery(gw-restart)
< 10s`` fails when the gateway was down 21 s. A ``kill`` or ``pause`` with
``for: 5s`` is measured from its revert, the end of the outage it asked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from loadkit.report.analysis import OVERALL, Analysis
from loadkit.report.hdr import grouped_percentiles

__all__ = ["Recovery", "find_recoveries"]

PRE_WINDOW_S = 60.0
P95_TOLERANCE = 0.5
P95_FLOOR_MS = 10.0
ERROR_RATE_TOLERANCE = 0.01
HEALTHY_INTERVALS = 3
OUTAGE_COUNTS = ("restart",)  # kinds whose outage is the service's own: measured from inject


@dataclass(frozen=True)
class Recovery:
    fault: str
    kind: str
    revert_s: float | None
    recovered: bool
    recovery_s: float | None  # None: did not recover, or not measurable
    pre_p95_ms: float | None
    pre_error_rate: float | None
    note: str
    measured_from: str = "revert"  # or "inject": a restart's outage counts (see above)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _pre_fault_level(analysis: Analysis, start_s: float, end_s: float) -> tuple[float, float, int]:
    """Merged overall (p95 ms, error rate, count) of the rows in [start_s, end_s) outside faults."""
    run = analysis.run
    rows, log = run.latency.rows, run.latency
    middle = (rows["t"] + rows["length"] / 2).to_numpy()
    mask = (middle >= start_s) & (middle < end_s)
    mask &= ~rows["endpoint"].isin(analysis.composite_endpoints).to_numpy()  # like ALL
    for window in analysis.faults:
        mask &= ~((middle >= window.start_s) & (middle < window.end_s))
    chosen = np.flatnonzero(mask)  # rows are in time order: take only their entries
    entries = log.entry_slice(int(chosen[0]), int(chosen[-1]) + 1) if len(chosen) else slice(0, 0)
    values, totals = grouped_percentiles(
        log.layout,
        np.where(mask, 0, -1),
        log.entry_row[entries],
        log.entry_index[entries],
        log.entry_count[entries],
        [95.0],
        1,
    )
    counts = rows["count"].to_numpy()
    failures = counts[mask & (rows["outcome"].to_numpy() == "fail")].sum()
    total = int(totals[0])
    return float(values[0, 0]) / 1000.0, float(failures / total if total else 0.0), total


def _recovery(analysis: Analysis, series: pd.DataFrame, position: int) -> Recovery:
    window = analysis.faults[position]
    revert = window.end_s if window.reverted else None
    if not window.reverted:
        return Recovery(window.name, window.kind, revert, False, None, None, None, "never reverted")
    p95, errors, count = _pre_fault_level(
        analysis, max(window.start_s - PRE_WINDOW_S, 0.0), window.start_s
    )
    if count == 0:
        note = "no requests before the fault to compare with"
        return Recovery(window.name, window.kind, revert, False, None, None, None, note)
    later = [w.start_s for w in analysis.faults[position + 1 :] if w.start_s >= window.end_s]
    horizon = min(later) if later else analysis.run.end_s
    kept = analysis.extras.get("recovery_horizon_s")  # a streamed report keeps this long
    if isinstance(kept, float) and window.end_s + kept < horizon:
        horizon, later = window.end_s + kept, [horizon]
    p95_limit = p95 * (1 + P95_TOLERANCE) + P95_FLOOR_MS
    error_limit = errors + ERROR_RATE_TOLERANCE
    interval = analysis.run.interval_s
    since, measured_from = (
        (window.start_s, "inject") if window.kind in OUTAGE_COUNTS else (window.end_s, "revert")
    )
    slot = int(np.floor(window.end_s / interval + 1e-6))
    streak_start, streak = 0.0, 0
    while slot * interval < horizon:
        start = slot * interval
        healthy = False
        if start in series.index:
            point = series.loc[start]
            healthy = bool(point["p95"] <= p95_limit and point["error_rate"] <= error_limit)
        if healthy:
            streak_start = start if streak == 0 else streak_start
            streak += 1
            if streak >= HEALTHY_INTERVALS:
                seconds = max(streak_start, window.end_s) - since
                note = "from the stop: the outage counts" if measured_from == "inject" else ""
                return Recovery(
                    window.name,
                    window.kind,
                    revert,
                    True,
                    seconds,
                    p95,
                    errors,
                    note,
                    measured_from,
                )
        else:
            streak = 0
        slot += 1
    note = f"not back to normal before {'the next fault' if later else 'the end of the run'}"
    if isinstance(kept, float) and horizon == window.end_s + kept:
        note = f"not back to normal within {kept:.0f} s of the revert"
    return Recovery(window.name, window.kind, revert, False, None, p95, errors, note, measured_from)


def find_recoveries(analysis: Analysis) -> list[Recovery]:
    """One :class:`Recovery` per fault window, in order of injection."""
    streamed = analysis.extras.get("recovery_series")  # per interval, after each revert
    if isinstance(streamed, pd.DataFrame):
        series = streamed.set_index("s")
    else:
        series = analysis.series[analysis.series["endpoint"] == OVERALL].set_index("s")
    return [_recovery(analysis, series, position) for position in range(len(analysis.faults))]
