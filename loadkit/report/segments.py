"""Where the streamed pass cuts a run's time (see :mod:`loadkit.report.stream`).

*Segments* lie between two consecutive phase boundaries (stages, fault windows,
the minute before each fault that recovery compares with): every phase is a
union of segments, so histograms merged per segment give every phase exactly.
*Recovery ranges* are the intervals after each revert whose overall figures
recovery reads, up to ``RECOVERY_HORIZON_S`` or the next fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loadkit.report.phases import derive_phases, fault_windows
from loadkit.report.recovery import PRE_WINDOW_S
from loadkit.rundir.hdr_codec import IntArray
from loadkit.rundir.reader import RunData

__all__ = ["RECOVERY_HORIZON_S", "Segments", "phase_segments", "recovery_ranges"]

RECOVERY_HORIZON_S = 3600.0  # recovery is looked for this long after a revert


@dataclass
class Segments:
    """Every phase boundary: rows are summed per segment between two of them."""

    bounds: np.ndarray

    def of(self, middle: np.ndarray) -> IntArray:
        return np.searchsorted(self.bounds, middle, side="right").astype(np.int64)

    def representative(self) -> np.ndarray:
        """A time inside each segment (segment 0 is before the first boundary)."""
        first = self.bounds[0] - 1.0 if len(self.bounds) else 0.0
        return np.concatenate(([first], self.bounds))

    def __len__(self) -> int:
        return len(self.bounds) + 1


def phase_segments(run: RunData) -> Segments:
    cuts: set[float] = set()
    for phase in derive_phases(run.events, math.inf):
        cuts.update((phase.start_s, phase.end_s))
    for window in fault_windows(run.events, math.inf):
        cuts.update((max(window.start_s - PRE_WINDOW_S, 0.0), window.start_s, window.end_s))
    return Segments(np.array(sorted(c for c in cuts if math.isfinite(c)), dtype=np.float64))


def recovery_ranges(run: RunData) -> list[tuple[int, int]]:
    """Intervals [first, last) whose overall figures recovery reads (after each revert)."""
    interval = run.interval_s
    windows = fault_windows(run.events, math.inf)
    ranges = []
    for position, window in enumerate(windows):
        if not math.isfinite(window.end_s):
            continue
        later = [w.start_s for w in windows[position + 1 :] if w.start_s >= window.end_s]
        horizon = min([window.end_s + RECOVERY_HORIZON_S, *later])
        first = math.floor(window.end_s / interval + 1e-6)
        ranges.append((first, max(math.ceil(horizon / interval) + 1, first)))
    return ranges
