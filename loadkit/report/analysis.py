"""Statistics of a run: per endpoint and overall, per phase, and over time.

Percentiles always come from merged HDR histograms (see
:func:`loadkit.report.hdr.grouped_percentiles`), failures included, like
Locust's own statistics; error rates and rates come from histogram counts.
Latencies are reported in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from loadkit.report.hdr import (
    grouped_moments,
    grouped_percentiles,
    lowest_equivalent,
    series_percentiles,
)
from loadkit.report.phases import FaultWindow, Phase, derive_phases, fault_windows
from loadkit.rundir.hdr_codec import layout_for
from loadkit.rundir.hlog_reader import LatencyLog
from loadkit.rundir.layout import EventType
from loadkit.rundir.reader import RunData

if TYPE_CHECKING:
    from loadkit.report.stream import Rollups

__all__ = [
    "COMPOSITE_TYPES",
    "DISTRIBUTION_PERCENTILES",
    "OVERALL",
    "PERCENTILES",
    "Analysis",
    "analyse",
    "interval_series",
    "is_composite",
    "is_count_only",
    "series_slots",
]

OVERALL = "ALL"  # the aggregate of request events only (see COMPOSITE_TYPES)
# Request types of *composite* events: a whole job, session start, iteration or sync,
# made of many requests and bounded by polling. They are endpoints of their own, kept
# out of the ALL row and the over-time "all" charts, which aggregate single HTTP and
# WebSocket calls. ``JOB <kind> server|queue|run`` and SERVICE events carry durations the
# service reported itself (from its own timestamps), not quantised by polling.
COMPOSITE_TYPES = frozenset({"JOB", "SESSION", "ITER", "SYNC", "SERVICE"})


def is_composite(endpoint: str) -> bool:
    """Whether ``endpoint`` ("TYPE name") is a composite event, not a single request."""
    return endpoint.split(" ", 1)[0] in COMPOSITE_TYPES


def is_count_only(endpoint: str) -> bool:
    """Whether ``endpoint`` is a count with no duration: an open-model iteration that
    could not start (``ITER <name> dropped``, see :mod:`loadkit.load.arrival`). Its
    statistics have no latencies (NaN), never 0 ms."""
    return endpoint.startswith("ITER ") and endpoint.endswith(" dropped")


def _without_latencies(frame: pd.DataFrame, endpoints: pd.Series | pd.Index) -> pd.DataFrame:
    """``frame`` (a copy when changed) with the latencies of count-only endpoints NaN."""
    mask = np.array([is_count_only(str(e)) for e in endpoints], dtype=bool)
    if not mask.any():
        return frame
    frame = frame.copy()
    latency = [c for c in (*PERCENTILES, "avg", "stddev") if c in frame.columns]
    frame.loc[mask, latency] = np.nan
    return frame


# summary key -> percentile
PERCENTILES: dict[str, float] = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "p99_9": 99.9,
    "max": 100.0,
    "min": 0.0,  # the first non-empty bucket (its lowest value: see _stats_for_rows)
}
DISTRIBUTION_PERCENTILES = [50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0]
STAT_COLUMNS = ["count", "failures", "error_rate", "rate", *PERCENTILES, "avg", "stddev"]


@dataclass
class Analysis:
    run: RunData
    endpoints: list[str]
    phases: list[Phase]
    faults: list[FaultWindow]
    stats: pd.DataFrame  # index (phase, endpoint); STAT_COLUMNS; latencies in ms
    series: pd.DataFrame  # s, endpoint, count, failures, error_rate, rate, p50, p95, p99
    users: pd.DataFrame  # s, users
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def request_endpoints(self) -> list[str]:
        """Endpoints of single requests (HTTP, WebSocket): what ALL aggregates."""
        return [e for e in self.endpoints if not is_composite(e)]

    @property
    def composite_endpoints(self) -> list[str]:
        """Endpoints of composite events (JOB, SESSION, ITER, SYNC, SERVICE)."""
        return [e for e in self.endpoints if is_composite(e)]

    def stat(self, phase: str, endpoint: str, metric: str) -> float:
        """One statistic; NaN when that phase/endpoint/metric has none."""
        value = self._lookup.get((phase, endpoint), {}).get(metric)
        return float("nan") if value is None else float(value)

    @cached_property
    def _lookup(self) -> dict[tuple[str, str], dict[str, float]]:
        return cast(dict[tuple[str, str], dict[str, float]], self.stats.to_dict("index"))


def _entries_of_rows(log: LatencyLog, row_mask: np.ndarray) -> tuple[slice | np.ndarray, ...]:
    """Selector of the entries of the masked rows: a slice when the rows are contiguous."""
    chosen = np.flatnonzero(row_mask)
    if len(chosen) == 0:
        return (slice(0, 0),)
    if chosen[-1] - chosen[0] + 1 == len(chosen):  # rows are in time order: the usual case
        return (log.entry_slice(int(chosen[0]), int(chosen[-1]) + 1),)
    return (row_mask[log.entry_row],)


def _stats_for_rows(
    log: LatencyLog,
    row_mask: np.ndarray,
    endpoint_ids: np.ndarray,
    requests: np.ndarray,
    seconds: float,
    extra: list[float] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Stats per endpoint id (plus one overall row, id ``n_endpoints``) for the masked rows,
    and the values (µs) of the ``extra`` percentiles, read in the same pass. ``requests``
    marks the request endpoints (by id): the overall row merges only those."""
    n_endpoints = len(requests)
    (select,) = _entries_of_rows(log, row_mask)
    wanted = list(PERCENTILES.values()) + (extra or [])
    all_values, totals = grouped_percentiles(
        log.layout,
        np.where(row_mask, endpoint_ids, -1),
        log.entry_row[select],
        log.entry_index[select],
        log.entry_count[select],
        wanted,
        n_endpoints,
        with_total=True,
        total_of=requests,
    )
    values, extra_values = all_values[:, : len(PERCENTILES)], all_values[:, len(PERCENTILES) :]
    rows = log.rows
    failed = (rows["outcome"].to_numpy() == "fail") & row_mask
    failures = np.bincount(
        endpoint_ids[failed], weights=rows["count"].to_numpy()[failed], minlength=n_endpoints
    )
    failures = np.append(failures, failures[requests].sum())
    frame = pd.DataFrame(values / 1000.0, columns=list(PERCENTILES))
    low = values[:, list(PERCENTILES).index("min")]
    seen = ~np.isnan(low)
    low[seen] = lowest_equivalent(log.layout)[log.layout.index_of(low[seen])]
    frame["min"] = low / 1000.0  # like HdrHistogram: the lowest value of the first bucket
    mean, stddev = grouped_moments(
        log.layout,
        np.where(row_mask, endpoint_ids, -1),
        log.entry_row[select],
        log.entry_index[select],
        log.entry_count[select],
        n_endpoints,
        requests,
    )
    frame["avg"], frame["stddev"] = mean / 1000.0, stddev / 1000.0
    frame.insert(0, "count", totals)
    frame.insert(1, "failures", failures.astype(np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        frame.insert(
            2, "error_rate", np.where(totals > 0, failures / np.maximum(totals, 1), np.nan)
        )
    frame.insert(3, "rate", totals / seconds if seconds > 0 else np.nan)
    return frame, extra_values


SERIES_SIGNIFICANT_FIGURES = 2
ROW_TIME_TOLERANCE_S = 2e-3  # latency.hlog's times are in ms


def series_slots(t: np.ndarray, interval_s: float, start_time: float) -> np.ndarray:
    """The over-time slot of each latency row (``t``: seconds from the run start).

    ``floor(t / interval_s)``, except for a row cut at a fault event (it starts between
    two of the wall-clock interval boundaries): it joins the slot of its interval's
    first row, so that cutting never moves counts from one point of a chart to another.
    """
    boundary = (-start_time) % interval_s  # where the interval boundaries fall
    tolerance = ROW_TIME_TOLERANCE_S
    into = np.mod(t - boundary + tolerance, interval_s) - tolerance  # since the last boundary
    first = np.where(into > tolerance, np.maximum(t - into, 0.0), t)
    return np.floor(first / interval_s + 1e-6).astype(np.int64)


def interval_series(run: RunData, endpoints: list[str]) -> pd.DataFrame:
    """Per interval: count, failures, error rate, rate and p50/p95/p99 per endpoint and overall."""
    log = run.latency
    rows = log.rows
    columns = ["s", "endpoint", "count", "failures", "error_rate", "rate", "p50", "p95", "p99"]
    if not len(rows):
        return pd.DataFrame({column: [] for column in columns})
    interval = run.interval_s
    slot = series_slots(rows["t"].to_numpy(), interval, run.start_time)
    slot -= min(int(slot.min()), 0)
    n_slots = int(slot.max()) + 1
    endpoint_ids = pd.Categorical(rows["endpoint"], categories=endpoints).codes.astype(np.int64)
    n = len(endpoints)
    requests = np.array([not is_composite(e) for e in endpoints], dtype=bool)
    wanted = [50.0, 95.0, 99.0]
    row_group = slot * n + endpoint_ids
    fine = log.layout
    # Series have one group per interval and endpoint (tens of thousands on a long run), so
    # they merge at 2 significant digits (buckets < 1 % wide): still merged HDR histograms,
    # never averaged percentiles, at a fraction of the cost. Run and phase stats keep 3.
    coarse = layout_for(fine.lowest, fine.highest, SERIES_SIGNIFICANT_FIGURES)
    per_endpoint, endpoint_totals, overall, overall_totals = series_percentiles(
        coarse,
        slot,
        endpoint_ids,
        n_slots,
        n,
        log.entry_row,
        log.entry_index,
        log.entry_count,
        wanted,
        coarse.index_of(fine.highest_equivalent),
        requests,
    )
    failed = rows["outcome"].to_numpy() == "fail"
    counts = rows["count"].to_numpy()
    failures = np.bincount(row_group[failed], weights=counts[failed], minlength=n_slots * n)
    values = np.concatenate((per_endpoint, overall[:, None, :]), axis=1)
    totals = np.concatenate((endpoint_totals, overall_totals[:, None]), axis=1)
    failures = failures.reshape(n_slots, n)
    failures = np.concatenate((failures, failures[:, requests].sum(axis=1)[:, None]), axis=1)
    keep = totals.reshape(-1) > 0
    names = np.array([*endpoints, OVERALL], dtype=object)
    group_ids = np.arange(n_slots * (n + 1))
    frame = pd.DataFrame(
        {
            "s": (group_ids // (n + 1))[keep] * interval,
            "endpoint": names[(group_ids % (n + 1))[keep]],
            "count": totals.reshape(-1)[keep],
            "failures": failures.reshape(-1)[keep].astype(np.int64),
        }
    )
    frame["error_rate"] = frame["failures"] / frame["count"]
    frame["rate"] = frame["count"] / interval
    for column, key in enumerate(("p50", "p95", "p99")):
        frame[key] = values.reshape(-1, 3)[keep, column] / 1000.0
    return frame


def _users(run: RunData) -> pd.DataFrame:
    points = [
        (float(e["s"]), float(e["count"]))
        for e in run.events
        if e["type"] == EventType.USERS and isinstance(e.get("count"), int | float)
    ]
    return pd.DataFrame(points, columns=["s", "users"])


def analyse(run: RunData, rollups: Rollups | None = None) -> Analysis:
    """Compute every statistic the report, checks and baselines use.

    ``rollups`` come from a streamed pass (:func:`loadkit.report.stream.analyse_run_dir`),
    which also left ``run.latency`` with one merged row per segment of the phases."""
    rows = run.latency.rows
    endpoints = run.latency.endpoints
    phases = derive_phases(run.events, run.end_s)
    faults = fault_windows(run.events, run.end_s)
    endpoint_ids = pd.Categorical(rows["endpoint"], categories=endpoints).codes.astype(np.int64)
    requests = np.array([not is_composite(e) for e in endpoints], dtype=bool)
    middle = (rows["t"] + rows["length"] / 2).to_numpy() if len(rows) else np.zeros(0)
    frames = []
    distribution = np.zeros((len(endpoints) + 1, 0))
    for phase in phases:
        mask = (middle >= phase.start_s) & (middle < phase.end_s)
        extra = None
        if phase.name == "run":
            mask = np.ones(len(rows), dtype=bool)
            extra = DISTRIBUTION_PERCENTILES
        frame, extra_values = _stats_for_rows(
            run.latency, mask, endpoint_ids, requests, phase.duration_s, extra
        )
        if extra is not None:
            distribution = extra_values
        frame.insert(0, "endpoint", [*endpoints, OVERALL])
        frame.insert(0, "phase", phase.name)
        frames.append(frame)
    stats = pd.concat(frames, ignore_index=True)
    stats = _without_latencies(stats, stats["endpoint"]).set_index(["phase", "endpoint"])
    series = interval_series(run, endpoints) if rollups is None else rollups.series
    series = _without_latencies(series, series["endpoint"])
    analysis = Analysis(run, endpoints, phases, faults, stats, series, _users(run))
    if rollups is not None:
        analysis.extras.update(rollups.extras())
    count_only = np.array([is_count_only(e) for e in [*endpoints, OVERALL]], dtype=bool)
    if count_only.any() and distribution.shape[1]:
        distribution[count_only] = np.nan
    analysis.extras["distribution"] = distribution  # [endpoint, DISTRIBUTION_PERCENTILES] µs
    return analysis
