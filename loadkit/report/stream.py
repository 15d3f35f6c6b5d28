"""One streamed pass over ``latency.hlog``: memory that does not grow with the run.

The interval log is read a chunk at a time (:mod:`loadkit.rundir.hlog_stream`)
and folded into merged histograms, then dropped:

- per *segment* x endpoint x outcome, where the segments are cut at every phase
  boundary (faults, stages, the minute before each fault for recovery). The
  result is a small :class:`~loadkit.rundir.hlog_reader.LatencyLog` with one row
  per segment, endpoint and outcome, so :func:`loadkit.report.analysis.analyse`
  computes the phase statistics from it exactly as from every interval;
- per chart point (:func:`series_factor`: full resolution up to
  ``MAX_POINTS`` intervals, else a round number of intervals per point), per
  endpoint and overall: the series;
- per interval, overall, from each fault's revert for ``RECOVERY_HORIZON_S``
  (or until the next fault): what :mod:`loadkit.report.recovery` needs;
- per minute, overall: the p95 that :mod:`loadkit.report.drift` fits.

A chart point is complete once the log has moved ``MARGIN_S`` past it; a
histogram that arrives later than that still counts in the totals and phases,
and is named in a warning. The figures of complete buckets are worked out after
each chunk (:mod:`loadkit.report.points`; small sums stay in the CPU's caches)
and made into tables once, at the end. Percentiles always come from merged HDR
counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loadkit.report.analysis import (
    SERIES_SIGNIFICANT_FIGURES,
    Analysis,
    analyse,
    is_composite,
    series_slots,
)
from loadkit.report.drift import BUCKET_S as DRIFT_BUCKET_S
from loadkit.report.points import RECOVERY_COLUMNS, SERIES_COLUMNS, Points, table
from loadkit.report.rollup import BoolArray, BucketSums, Columns, GroupSums, scatter_add
from loadkit.report.segments import RECOVERY_HORIZON_S, phase_segments, recovery_ranges
from loadkit.rundir.hdr_codec import IntArray, Layout, layout_for
from loadkit.rundir.hlog_reader import LatencyLog, empty_latency_log
from loadkit.rundir.hlog_stream import Chunk, HlogStream
from loadkit.rundir.layout import LATENCY_HLOG
from loadkit.rundir.reader import RunData, attach_latency, load_run_dir

__all__ = [
    "MAX_POINTS",
    "Rollups",
    "analyse_run_dir",
    "in_overall",
    "series_factor",
    "stream_latency",
]

MAX_POINTS = 2000  # chart points per series (a plot is ~1,000-2,000 pixels wide)
# seconds per chart point of a long run; each divides the next, so points nest
NICE_WIDTHS_S = (1, 2, 10, 30, 60, 120, 600, 1800, 3600, 7200, 21600, 86400)
MARGIN_S = 120.0  # a chart point is complete once the log is this far past it


@dataclass
class Rollups:
    """What the streamed pass keeps besides the per-segment histograms."""

    series: pd.DataFrame  # like analysis.interval_series, one row per chart point
    series_width_s: float
    recovery_series: pd.DataFrame  # s, count, failures, error_rate, p95 (overall, per interval)
    recovery_horizon_s: float
    drift_p95: tuple[np.ndarray, np.ndarray]  # minute middles (s), merged p95 (ms)
    late_requests: int = 0

    def extras(self) -> dict[str, object]:
        return {
            "series_width_s": self.series_width_s,
            "recovery_series": self.recovery_series,
            "recovery_horizon_s": self.recovery_horizon_s,
            "drift_p95": self.drift_p95,
        }


def in_overall(endpoint: str) -> bool:
    """Whether ``endpoint`` counts in the overall (ALL) series and recovery: request events,
    not composite ones (as ``analysis.interval_series``)."""
    return not is_composite(endpoint)


def analyse_run_dir(path: Path) -> Analysis:
    """Load and analyse a run directory in one streamed pass over its interval log."""
    run = load_run_dir(path, read_latency=False)
    return analyse(run, stream_latency(run))


def series_factor(intervals: float, interval_s: float) -> int:
    """Intervals per chart point: 1 up to ``MAX_POINTS``, else a round width in seconds."""
    if intervals <= MAX_POINTS:
        return 1
    for width in NICE_WIDTHS_S:
        factor = max(round(width / interval_s), 1)
        if intervals / factor <= MAX_POINTS:
            return factor
    return max(math.ceil(intervals / MAX_POINTS), 1)


def _expected_intervals(run: RunData, stream: HlogStream, first: Chunk, shift: float) -> float:
    """The run's length in intervals: from run.json, else from the log's size and first chunk."""
    meta = run.meta
    known = run.end_s
    started, stopped = meta.get("started_at"), meta.get("stopped_at")
    if isinstance(started, int | float) and isinstance(stopped, int | float):
        known = max(known, float(stopped) - float(started))
    size = stream.path.stat().st_size
    span = float((first.t + first.length).max() - first.t.min()) if len(first.t) else 0.0
    if stream.bytes_read and span > 0:
        known = max(known, span * size / stream.bytes_read + float(first.t.min()) + shift)
    return known / run.interval_s


class _Pass:
    """The state of one streamed pass (see the module docstring)."""

    def __init__(self, run: RunData, stream: HlogStream) -> None:
        self.run, self.stream = run, stream
        self.interval = run.interval_s
        self.segments = phase_segments(run)
        self.ranges = recovery_ranges(run)
        self.factor = 1
        self.max_t = -math.inf
        self.end_s = -math.inf
        self.points = Points(stream.endpoints, self.interval)

    def start(self, first: Chunk, fine: Layout, shift: float) -> None:
        self.fine = fine
        coarse = layout_for(
            fine.lowest, max(self.stream.highest, 2 * fine.lowest), SERIES_SIGNIFICANT_FIGURES
        )
        self.coarse = coarse
        full_index = np.arange(fine.counts_len, dtype=np.int64)
        self.fine_columns = fine_columns = Columns(full_index)
        self.coarse_columns = coarse_columns = Columns(coarse.index_of(fine.highest_equivalent))
        self.phase_sums = GroupSums(fine_columns)
        self.drift = BucketSums(fine_columns, 1)
        self.factor = series_factor(
            _expected_intervals(self.run, self.stream, first, shift), self.interval
        )
        self.series = BucketSums(coarse_columns, 1)
        self.series.first_open = int(self._slot(first.t + shift).min()) // self.factor
        self.recovery = BucketSums(coarse_columns, 2)  # group 0: all requests; 1: failed ones
        self.recovery.first_open = min((r[0] for r in self.ranges), default=0)

    def _slot(self, t: np.ndarray) -> IntArray:
        return series_slots(t, self.interval, self.run.start_time)

    def add(self, chunk: Chunk, shift: float) -> None:
        t = chunk.t + shift
        self.max_t = max(self.max_t, float(t.max()))
        self.end_s = max(self.end_s, float((t + chunk.length).max()))
        totals = chunk.total
        used = chunk.entry_index if chunk.varints is None else chunk.varints.used
        fine, coarse = self.fine_columns.columns(used), self.coarse_columns.columns(used)
        n_seg = len(self.segments)
        segment = self.segments.of(t + chunk.length / 2)
        group = chunk.endpoint * (2 * n_seg) + segment * 2 + chunk.failed
        phase = self.phase_sums.offsets(group, totals)
        slot = self._slot(t)
        failed = np.where(chunk.failed, chunk.total, 0)
        # series: one group per endpoint; their sum is the overall line (see _series)
        self.series.set_groups(len(self.stream.endpoints))
        bucket = slot // self.factor
        series = self.series.offsets(bucket, chunk.endpoint, totals)
        self.series.add_failures(bucket, chunk.endpoint, failed)
        near = np.zeros(len(slot), dtype=bool)
        for first, last in self.ranges:
            near |= (slot >= first) & (slot < last)
        near &= self._overall_mask(len(self.stream.endpoints))[chunk.endpoint]
        recovery = None
        if near.any():  # recovery: group 0 counts every request, group 1 the failed ones
            zeros = np.zeros(len(slot), np.int64)
            recovery = self.recovery.offsets(slot, zeros, totals, keep=near)
            ones = np.ones(int(near.sum()), np.int64)
            self.recovery.add_failures(slot[near], ones, failed[near])
        minute = np.floor(t / DRIFT_BUCKET_S).astype(np.int64)
        drift = self.drift.offsets(minute, np.zeros(len(minute), np.int64), totals)
        sums = [
            (merged.counts, offsets, columns)
            for merged, offsets, columns in (
                (self.phase_sums, phase, self.fine_columns),
                (self.series, series, self.coarse_columns),
                (self.recovery, recovery, self.coarse_columns),
                (self.drift, drift, self.fine_columns),
            )
            if offsets is not None
        ]
        if chunk.varints is not None:  # a large log: decoded straight into the sums
            from loadkit.rundir.hdr_kernels import decode_scatter

            varints = chunk.varints
            decode_scatter(
                varints.data,
                varints.start,
                varints.size,
                self.fine.counts_len,
                [(target, offsets, columns.table) for target, offsets, columns in sums],
            )
        else:
            for target, offsets, columns in sums:
                column = fine if columns is self.fine_columns else coarse
                scatter_add(target, offsets, chunk.entry_row, column, chunk.entry_count)
        self.finish(self.max_t - MARGIN_S)

    def finish(self, before_s: float) -> None:
        """Figures of every chart point, interval and minute ending before ``before_s``."""
        width = self.factor * self.interval
        upto = math.floor(before_s / width) if math.isfinite(before_s) else None
        done = self.series.finish_before(self._end(self.series, upto))
        coarse = self.coarse.highest_equivalent
        merged = self._overall_mask(done.counts.shape[1])
        self.points.add_series(done, width, coarse[done.indices], merged)
        upto = math.floor(before_s / self.interval) if math.isfinite(before_s) else None
        done = self.recovery.finish_before(self._end(self.recovery, upto))
        self.points.add_recovery(done, coarse[done.indices])
        upto = math.floor(before_s / DRIFT_BUCKET_S) if math.isfinite(before_s) else None
        done = self.drift.finish_before(self._end(self.drift, upto))
        self.points.add_drift(done, self.fine.highest_equivalent[done.indices])

    def _overall_mask(self, endpoints: int) -> BoolArray:
        """Which of the first ``endpoints`` endpoints the overall figures merge."""
        names = self.stream.endpoints[:endpoints]
        return np.fromiter((in_overall(name) for name in names), dtype=bool, count=len(names))

    @staticmethod
    def _end(sums: BucketSums, upto: int | None) -> int:
        if upto is not None:
            return upto
        return sums.first_open + -(-sums.counts.shape[0] // max(sums.groups, 1))

    def reduced_log(self, layout: Layout) -> LatencyLog:
        """One row per segment, endpoint and outcome with its merged histogram."""
        counts, indices = self.phase_sums.sorted()
        inside = indices < layout.counts_len
        counts, indices = counts[:, inside], indices[inside]
        totals = np.rint(counts.sum(axis=1)).astype(np.int64)
        groups = np.flatnonzero(totals > 0)
        n_seg = len(self.segments)
        endpoint, rest = groups // (2 * n_seg), groups % (2 * n_seg)
        names = np.array(self.stream.endpoints, dtype=object)[endpoint]
        t = self.segments.representative()[rest // 2]
        failed = (rest % 2).astype(bool)
        order = np.lexsort((failed, names.astype(str), t))
        groups = groups[order]
        rows = pd.DataFrame(
            {
                "t": t[order],
                "length": np.zeros(len(groups)),
                "endpoint": names[order],
                "outcome": np.where(failed[order], "fail", "ok"),
                "count": totals[groups],
            }
        )
        kept = counts[groups]
        entry_row, column = np.nonzero(kept)
        return LatencyLog(
            rows,
            entry_row.astype(np.int32),
            indices[column].astype(np.int32),
            np.rint(kept[entry_row, column]).astype(np.int64),
            layout,
            self.stream.start_time,
            self.stream.skipped_lines,
            dict(self.stream.unknown_tags),
            self.stream.out_of_range,
        )

    def rollups(self) -> Rollups:
        self.finish(math.inf)
        series, recovery, drift = self.points.tables()
        return Rollups(
            series=series,
            series_width_s=self.factor * self.interval,
            recovery_series=recovery,
            recovery_horizon_s=RECOVERY_HORIZON_S,
            drift_p95=drift,
            late_requests=self.series.late,
        )


def stream_latency(run: RunData) -> Rollups:
    """Stream ``run``'s interval log once (``run`` loaded with ``read_latency=False``):
    ``run.latency`` becomes the per-segment log (:func:`loadkit.rundir.reader.attach_latency`
    adds what the log tells about the run); returns the rollups."""
    stream = HlogStream(run.path / LATENCY_HLOG)
    state = _Pass(run, stream)
    shift = run.latency_shift_s  # hlog times are relative to its StartTime
    started = False
    for chunk in stream.chunks():
        if not started:
            assert stream.lowest is not None and stream.significant_figures is not None
            widest = layout_for(stream.lowest, 1 << 62, stream.significant_figures)
            state.start(chunk, widest, shift)
            started = True
        state.add(chunk, shift)
    if not started:
        attach_latency(run, _empty_latency(stream), None, None)
        return Rollups(
            table([], SERIES_COLUMNS), run.interval_s, table([], RECOVERY_COLUMNS),
            RECOVERY_HORIZON_S, (np.zeros(0), np.zeros(0)),
        )  # fmt: skip
    rollups = state.rollups()
    attach_latency(run, state.reduced_log(stream.layout), state.end_s, stream.median_length)
    if rollups.late_requests:
        run.warnings.append(
            f"latency.hlog: {rollups.late_requests} request(s) were written more than "
            f"{MARGIN_S:.0f} s after their interval: they count in every statistic but not "
            "in the over-time charts"
        )
    return rollups


def _empty_latency(stream: HlogStream) -> LatencyLog:
    log = empty_latency_log()
    log.start_time, log.skipped_lines = stream.start_time, stream.skipped_lines
    log.unknown_tags, log.out_of_range = dict(stream.unknown_tags), stream.out_of_range
    return log
