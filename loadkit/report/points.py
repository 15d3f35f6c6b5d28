"""The figures of closed time buckets: chart points, recovery intervals, drift minutes.

The streamed pass (:mod:`loadkit.report.stream`) hands each batch of closed
buckets (:class:`~loadkit.report.rollup.Finished`) to :class:`Points`, which
reads their merged percentiles (never averaged) and keeps the figures as
arrays; the tables are made once, at the end (:meth:`Points.tables`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loadkit.report.analysis import OVERALL
from loadkit.report.drift import BUCKET_S as DRIFT_BUCKET_S
from loadkit.report.rollup import BoolArray, Finished, merged_percentiles
from loadkit.rundir.hdr_codec import IntArray

__all__ = ["RECOVERY_COLUMNS", "SERIES_COLUMNS", "Points", "table"]

SERIES_COLUMNS = ["s", "endpoint", "count", "failures", "error_rate", "rate", "p50", "p95", "p99"]
RECOVERY_COLUMNS = ["s", "count", "failures", "error_rate", "p95"]
_SERIES_P = [50.0, 95.0, 99.0]

Columns = dict[str, np.ndarray]


def table(parts: list[Columns], columns: list[str]) -> pd.DataFrame:
    """One table of the parts' columns (in order); an empty one without parts."""
    if not parts:
        return pd.DataFrame({column: [] for column in columns})
    return pd.DataFrame(
        {column: np.concatenate([part[column] for part in parts]) for column in columns}
    )


class Points:
    """The figures of the closed buckets so far (see the module docstring).

    ``endpoints`` is the stream's list of endpoint names (it grows as the log
    names new ones): group ``g`` of a chart point is ``endpoints[g]``, and the
    last group of a batch is the overall line.
    """

    def __init__(self, endpoints: list[str], interval_s: float) -> None:
        self.endpoints = endpoints
        self.interval = interval_s
        self.series: list[Columns] = []
        self.recovery: list[Columns] = []
        self.drift: list[tuple[np.ndarray, np.ndarray]] = []

    def add_series(
        self, done: Finished, width: float, values_of: IntArray, merged: BoolArray
    ) -> None:
        """Chart points: per endpoint, and overall (the endpoints in ``merged``)."""
        if done.counts.shape[0] == 0:
            return
        overall = done.counts[:, merged].sum(axis=1, keepdims=True)
        counts = np.concatenate((done.counts, overall), axis=1)
        failed = done.failures[:, merged].sum(axis=1, keepdims=True)
        failures = np.concatenate((done.failures, failed), axis=1)
        buckets, groups, width_columns = counts.shape
        flat = counts.reshape(buckets * groups, width_columns)
        values, totals = merged_percentiles(flat, _SERIES_P, values_of)
        keep = totals > 0
        names = np.array([*self.endpoints[: groups - 1], OVERALL], dtype=object)
        ids = np.arange(buckets * groups)[keep]
        count = totals[keep]
        kept_failures = failures.reshape(-1)[keep].astype(np.int64)
        self.series.append(
            {
                "s": (done.first + ids // groups) * width,
                "endpoint": names[ids % groups],
                "count": count,
                "failures": kept_failures,
                "error_rate": kept_failures / count,
                "rate": count / width,
                "p50": values[keep, 0] / 1000.0,
                "p95": values[keep, 1] / 1000.0,
                "p99": values[keep, 2] / 1000.0,
            }
        )

    def add_recovery(self, done: Finished, values_of: IntArray) -> None:
        """Per interval, overall: group 0 counts every request, group 1 the failed ones."""
        if done.counts.shape[0] == 0:
            return
        values, totals = merged_percentiles(done.counts[:, 0, :], [95.0], values_of)
        keep = totals > 0
        failures = done.failures[keep, 1]
        self.recovery.append(
            {
                "s": (done.first + np.flatnonzero(keep)) * self.interval,
                "count": totals[keep],
                "failures": failures.astype(np.int64),
                "error_rate": failures / totals[keep],
                "p95": values[keep, 0] / 1000.0,
            }
        )

    def add_drift(self, done: Finished, values_of: IntArray) -> None:
        """Per minute, overall: the merged p95 (ms) at each minute's middle."""
        if done.counts.shape[0] == 0:
            return
        values, totals = merged_percentiles(done.counts[:, 0, :], [95.0], values_of)
        full = np.flatnonzero(totals > 0)
        self.drift.append(((done.first + full + 0.5) * DRIFT_BUCKET_S, values[full, 0] / 1000))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, tuple[np.ndarray, np.ndarray]]:
        """The series (by time, endpoints by name, overall last), recovery, drift points."""
        series = table(self.series, SERIES_COLUMNS)
        if len(series):
            rank = {name: k for k, name in enumerate(sorted(set(series["endpoint"]) - {OVERALL}))}
            rank[OVERALL] = len(rank)
            series = series.assign(_rank=series["endpoint"].map(rank))
            series = series.sort_values(["s", "_rank"], kind="stable").drop(columns="_rank")
            series = series.reset_index(drop=True)
        drift = (
            np.concatenate([np.zeros(0), *(part[0] for part in self.drift)]),
            np.concatenate([np.zeros(0), *(part[1] for part in self.drift)]),
        )
        return series, table(self.recovery, RECOVERY_COLUMNS), drift
