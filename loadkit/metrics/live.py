"""Live loadkit figures while a run goes: the state behind ``/metrics`` and the web UI.

:class:`LiveFigures` is fed every interval the master (or local runner) writes
to ``latency.hlog`` (``IntervalMerger.on_written``), so the live figures are
exactly the run directory's: per endpoint (request type + name) the requests
and failures, and p50/p95/p99 of the last written interval and of the whole run,
read from merged HDR bucket counts the way ``HdrHistogram`` reads them.
Failures count in the percentiles, as in the reporter and in Locust.

Memory is endpoints x HDR buckets, never run length. "The last interval" is
the newest interval written: intervals are written once they are one interval
old (workers' counts arrive by then), so it trails the clock by 1-2 intervals.

Probes do not exist yet. :class:`ProbeSource` is the hook they will use: an
object whose ``readings()`` returns the latest value of each probe field,
registered with :meth:`LiveFigures.add_probe_source`. Until one is registered
there are no probe figures (and nothing pretends otherwise).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Protocol

from loadkit.metrics.intervals import Counts, merge_into
from loadkit.rundir.hlog import new_histogram

__all__ = [
    "PERCENTILES",
    "EndpointRow",
    "FaultRow",
    "LiveFigures",
    "ProbeReading",
    "ProbeSource",
    "Snapshot",
    "Window",
    "percentile_us",
    "percentiles_us",
]

log = logging.getLogger(__name__)

PERCENTILES = (50.0, 95.0, 99.0)
Endpoint = tuple[str, str]  # (request_type, name)


# -- the probe hook ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeReading:
    """The latest value of one probe field (``value`` None: the probe could not read it)."""

    probe: str
    field: str
    value: float | bool | str | None
    t: float  # Unix time of the sample


class ProbeSource(Protocol):
    """What the probes part will register to show its values live."""

    def readings(self) -> Iterable[ProbeReading]: ...


# -- what a snapshot holds -----------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Figures of one endpoint (or all) over the last interval or the whole run."""

    requests: int
    failures: int
    p50_us: int | None
    p95_us: int | None
    p99_us: int | None

    def percentiles_us(self) -> dict[float, int | None]:
        return dict(zip(PERCENTILES, (self.p50_us, self.p95_us, self.p99_us), strict=True))


@dataclass(frozen=True)
class EndpointRow:
    request_type: str
    name: str
    run: Window
    interval: Window | None  # None: no request in the last interval


@dataclass(frozen=True)
class FaultRow:
    """One planned fault with its live state; offsets in seconds from the test start."""

    name: str
    kind: str
    via: str
    target: str
    at_s: float
    for_s: float | None
    state: str  # pending | active | reverted | done | failed | revert_failed
    injected_at_s: float | None
    reverted_at_s: float | None
    error: str

    @property
    def active(self) -> bool:
        return self.state in ("active", "revert_failed")


@dataclass(frozen=True)
class Snapshot:
    """Everything the live views show, taken at one instant."""

    run_id: str | None
    name: str | None
    running: bool
    started_at: float | None
    elapsed_s: float | None
    interval_s: float | None
    interval_start: float | None  # Unix time span of the last written interval
    interval_end: float | None
    users: int
    workers: int | None  # None: not a master
    endpoints: list[EndpointRow]
    overall_run: Window
    overall_interval: Window | None
    faults: list[FaultRow] = field(default_factory=list)
    probes: list[ProbeReading] = field(default_factory=list)
    probe_sources: int = 0


# -- HDR percentiles of sparse counts --------------------------------------------------------


_LAYOUT = new_histogram()  # only asked for bucket values, never filled


@lru_cache(maxsize=8192)
def _bucket_value_us(index: int) -> int:
    """The value HdrHistogram reports for a bucket (its highest equivalent value)."""
    return int(_LAYOUT.get_highest_equivalent_value(_LAYOUT.get_value_from_index(index)))


def percentile_us(counts: Mapping[int, int], percentile: float) -> int | None:
    """``HdrHistogram.get_value_at_percentile`` (0 < p ≤ 100) of ``{counts_index: count}``, µs.

    None when there are no counts.
    """
    return percentiles_us(counts, (percentile,))[0]


def percentiles_us(
    counts: Mapping[int, int],
    percentiles: tuple[float, ...],
    indices: list[int] | None = None,
) -> tuple[int | None, ...]:
    """Several percentiles of ``{counts_index: count}`` (µs) from one cumulative sum.

    ``indices``: the keys of ``counts`` already sorted (saves the sort).
    """
    if indices is None:
        indices = sorted(counts)
    cumulative = list(accumulate(map(counts.__getitem__, indices)))
    total = cumulative[-1] if cumulative else 0
    if total <= 0:
        return tuple(None for _ in percentiles)
    values: list[int | None] = []
    for percentile in percentiles:
        target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
        values.append(_bucket_value_us(indices[bisect_left(cumulative, target)]))
    return tuple(values)


class _Tally:
    """Requests, failures and merged bucket counts (ok + fail) of one endpoint or all."""

    __slots__ = ("_indices", "_window", "buckets", "failures", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.failures = 0
        self.buckets: dict[int, int] = {}
        self._indices: list[int] = []  # the keys of buckets, sorted (new ones are rare)
        self._window: Window | None = None  # cached until the next add

    def add(self, buckets: Mapping[int, int], ok: bool) -> None:
        count = sum(buckets.values())
        self.requests += count
        if not ok:
            self.failures += count
        into = self.buckets
        for index, n in buckets.items():
            if index in into:
                into[index] += n
            else:
                into[index] = n
                insort(self._indices, index)
        self._window = None

    def window(self) -> Window:
        if self._window is None:
            p50, p95, p99 = percentiles_us(self.buckets, PERCENTILES, self._indices)
            self._window = Window(self.requests, self.failures, p50, p95, p99)
        return self._window


# -- the live state --------------------------------------------------------------------------


class LiveFigures:
    """Per-endpoint figures of the current (or last) run, fed interval by interval."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.name: str | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.interval_s: float | None = None
        self._run: dict[Endpoint, _Tally] = {}
        self._run_all = _Tally()
        self._last_index: int | None = None
        self._last_span: tuple[float, float] | None = None
        self._last: Counts = {}
        self._probe_sources: list[ProbeSource] = []

    def start_run(self, run_id: str, name: str, started_at: float, interval_s: float) -> None:
        """A new run: forget the previous run's figures."""
        self.run_id, self.name = run_id, name
        self.started_at, self.stopped_at, self.interval_s = started_at, None, interval_s
        self._run, self._run_all = {}, _Tally()
        self._last_index, self._last_span, self._last = None, None, {}

    def add_interval(self, index: int, start: float, end: float, counts: Counts) -> None:
        """An interval was written to the hlog (an ``IntervalMerger.on_written`` listener).

        Never raises: it runs inside the writer, and the run directory comes first.
        """
        try:
            self._add(index, start, end, counts)
        except Exception:
            log.exception("loadkit: live figures could not take interval %d", index)

    def _add(self, index: int, start: float, end: float, counts: Counts) -> None:
        for (request_type, name, ok), buckets in counts.items():
            tally = self._run.get((request_type, name))
            if tally is None:
                tally = self._run[(request_type, name)] = _Tally()
            tally.add(buckets, ok)
            self._run_all.add(buckets, ok)
        if self._last_index is None or index > self._last_index:
            self._last_index, self._last_span, self._last = index, (start, end), {}
        if index == self._last_index:  # also a late extra line for the newest interval
            merge_into(self._last, counts)
            span = self._last_span or (start, end)
            self._last_span = (min(span[0], start), max(span[1], end))

    # -- probes (the hook) ---------------------------------------------------------------

    def add_probe_source(self, source: ProbeSource) -> None:
        """Show ``source``'s readings live (for the probes part)."""
        self._probe_sources.append(source)

    def _probe_readings(self) -> list[ProbeReading]:
        readings: list[ProbeReading] = []
        for source in self._probe_sources:
            try:
                readings.extend(source.readings())
            except Exception:
                log.exception("loadkit: a probe source failed to give its readings")
        return readings

    # -- reading ---------------------------------------------------------------------------

    def snapshot(
        self,
        *,
        running: bool,
        users: int,
        workers: int | None = None,
        faults: list[FaultRow] | None = None,
        now: float | None = None,
    ) -> Snapshot:
        now = time.time() if now is None else now
        last: dict[Endpoint, _Tally] = {}
        last_all = _Tally()
        for (request_type, name, ok), buckets in self._last.items():
            tally = last.get((request_type, name))
            if tally is None:
                tally = last[(request_type, name)] = _Tally()
            tally.add(buckets, ok)
            last_all.add(buckets, ok)
        rows = [
            EndpointRow(
                request_type,
                name,
                run=tally.window(),
                interval=last[(request_type, name)].window()
                if (request_type, name) in last
                else None,
            )
            for (request_type, name), tally in sorted(self._run.items())
        ]
        end = self.stopped_at if self.stopped_at is not None and not running else now
        span = self._last_span
        return Snapshot(
            run_id=self.run_id,
            name=self.name,
            running=running,
            started_at=self.started_at,
            elapsed_s=None if self.started_at is None else max(0.0, end - self.started_at),
            interval_s=self.interval_s,
            interval_start=span[0] if span else None,
            interval_end=span[1] if span else None,
            users=users,
            workers=workers,
            endpoints=rows,
            overall_run=self._run_all.window(),
            overall_interval=last_all.window() if self._last else None,
            faults=list(faults or []),
            probes=self._probe_readings(),
            probe_sources=len(self._probe_sources),
        )
