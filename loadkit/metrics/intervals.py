"""Per-interval latency counts: the hot path, the wire form and the master's merge.

Intervals are numbered from the epoch (``index = floor(t / interval_s)``), so a
master and its workers agree on interval boundaries without talking about them.

* :class:`IntervalCounter` sits on Locust's ``request`` event. Recording one
  request is a dict lookup, an integer bucket computation and an increment;
  every interval :meth:`IntervalCounter.swap` hands the finished counts away.
* :func:`to_wire` / :func:`from_wire` turn counts into msgpack-friendly lists
  (sparse HDR bucket indices and counts) for worker → master messages.
* :class:`IntervalMerger` (master / local runner) merges counts from every
  source and writes an interval to ``latency.hlog`` once it is ``lag`` intervals
  old; anything arriving later for a written interval is written as an extra line
  for the same interval, so no request is ever dropped. An interval may be *cut*
  (:meth:`IntervalMerger.add` with ``since``): the local runner cuts the one in which
  a fault is injected or reverted, so that no line of the log straddles a fault
  window's edge and a window's figures hold only what was recorded inside it.

Memory is bounded by endpoints × HDR buckets × pending intervals, never by run length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from loadkit.rundir.hlog import MAX_INDEX, HlogWriter, encode_tag

__all__ = [
    "Counts",
    "CuttingHandOver",
    "IntervalCounter",
    "IntervalListener",
    "IntervalMerger",
    "PartSink",
    "from_wire",
    "interval_index",
    "to_wire",
]

# (request_type, name, ok) -> {hdr counts index: count}
Counts = dict[tuple[str, str, bool], dict[int, int]]
# (interval index, start, end as Unix times, counts): an interval just written to the hlog
IntervalListener = Callable[[int, float, float, Counts], None]
# (interval index, counts, start of the part or None): where a hand-over puts counts
PartSink = Callable[[int, Counts, "float | None"], None]


_SUB_BUCKET_COUNT = 2048


def interval_index(t: float, interval_s: float) -> int:
    return math.floor(t / interval_s)


class IntervalCounter:
    """Counts request latencies of the current interval (the Locust hot path)."""

    __slots__ = ("_current", "enabled")

    def __init__(self) -> None:
        self._current: Counts = {}
        self.enabled = False

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int | None = None,
        response: Any = None,
        context: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        url: str | None = None,
        **_kwargs: Any,
    ) -> None:
        # Every Locust request passes here: keep it to a few dict and integer operations.
        # The bucket index is hlog.counts_index inlined (tested to stay identical).
        if not self.enabled:
            return
        key = (request_type, name, exception is None)
        counts = self._current.get(key)
        if counts is None:
            counts = self._current[key] = {}
        value = int(response_time * 1000) if response_time else 0
        if value < _SUB_BUCKET_COUNT:
            index = value
        else:
            bucket = value.bit_length() - 11
            index = ((bucket + 1) << 10) + (value >> bucket) - 1024
            if index > MAX_INDEX:
                index = MAX_INDEX
        counts[index] = counts.get(index, 0) + 1

    def swap(self) -> Counts:
        """The counts recorded since the last swap (and start afresh)."""
        finished, self._current = self._current, {}
        return finished


class CuttingHandOver:
    """A counter's hand-over to the merger (or to the master), cut at fault events.

    :meth:`tick` hands the counts over at each interval's end, :meth:`cut` at a fault
    event: what was recorded before it ends there, what comes after starts a new part of
    the interval (see :meth:`IntervalMerger.add`). A tick that comes late (the cut is
    already in the next interval) hands its counts to the part after the cut, where they
    were recorded.
    """

    def __init__(self, counter: IntervalCounter, interval_s: float) -> None:
        self.counter = counter
        self.interval_s = interval_s
        self._part: tuple[int, float] | None = None  # (interval, time of the last cut)

    def tick(self, sink: PartSink, ending: int) -> None:
        """Interval ``ending`` ended: hand its counts (or its last part's) over."""
        part = self._part
        if part is not None and part[0] >= ending:
            sink(part[0], self.counter.swap(), part[1])
            if part[0] == ending:
                self._part = None
        else:
            sink(ending, self.counter.swap(), None)
            self._part = None

    def cut(self, sink: PartSink, t: float) -> None:
        """A fault event stamped ``t``: end the current part at ``t``."""
        index = interval_index(t, self.interval_s)
        part = self._part
        since = part[1] if part is not None and part[0] == index else None
        sink(index, self.counter.swap(), since)
        sink(index, {}, t)  # the next part starts here, even if nothing comes in it
        self._part = (index, t)


def to_wire(counts: Counts) -> list[list[Any]]:
    """Counts → ``[[request_type, name, ok, [indices], [counts]], ...]`` (msgpack-safe)."""
    return [
        [request_type, name, ok, list(buckets.keys()), list(buckets.values())]
        for (request_type, name, ok), buckets in counts.items()
    ]


def from_wire(rows: list[list[Any]]) -> Counts:
    counts: Counts = {}
    for request_type, name, ok, indices, values in rows:
        counts[(str(request_type), str(name), bool(ok))] = dict(zip(indices, values, strict=True))
    return counts


def merge_into(target: Counts, extra: Counts) -> None:
    for key, buckets in extra.items():
        into = target.get(key)
        if into is None:
            target[key] = dict(buckets)
            continue
        for index, count in buckets.items():
            into[index] = into.get(index, 0) + count


class IntervalMerger:
    """Collects counts by interval and writes each interval to the hlog once it is due."""

    def __init__(self, writer: HlogWriter, interval_s: float, started_at: float) -> None:
        self.writer = writer
        self.interval_s = interval_s
        self.started_at = started_at
        self.stopped_at: float | None = None
        # interval index -> {start of a part (None: the interval's start) -> counts}
        self._pending: dict[int, dict[float | None, Counts]] = {}
        self.requests_written = 0
        self.on_written: IntervalListener | None = None  # the live view (metrics/live.py)

    def add(self, index: int, counts: Counts, since: float | None = None) -> None:
        """Counts of interval ``index``; ``since`` (a Unix time inside it): counts recorded
        from that cut on, up to the next cut or the interval's end (even when empty)."""
        start = index * self.interval_s
        if since is not None and not start < since < start + self.interval_s:
            since = None  # a cut at the interval's start (or not in it): the whole interval
        if not counts and since is None:
            return
        parts = self._pending.get(index)
        if parts is None:
            self._pending[index] = parts = {}
        pending = parts.get(since)
        if pending is None:
            parts[since] = pending = {}
        merge_into(pending, counts)

    def pending_intervals(self) -> int:
        return len(self._pending)

    def write_due(self, now: float, lag: int = 1) -> None:
        """Write every interval that ended at least ``lag`` intervals before ``now``."""
        due_before = interval_index(now, self.interval_s) - lag
        for index in sorted(i for i in self._pending if i < due_before):
            self._write(index, self._pending.pop(index))
        self.writer.flush()

    def write_all(self) -> None:
        for index in sorted(self._pending):
            self._write(index, self._pending.pop(index))
        self.writer.flush()

    def _write(self, index: int, parts: dict[float | None, Counts]) -> None:
        interval_start, interval_end = index * self.interval_s, (index + 1) * self.interval_s
        starts = sorted(interval_start if since is None else since for since in parts)
        ends = [*starts[1:], interval_end]
        by_start = {interval_start if since is None else since: c for since, c in parts.items()}
        for part_start, part_end in zip(starts, ends, strict=True):
            if by_start[part_start]:
                self._write_part(index, part_start, part_end, by_start[part_start])

    def _write_part(self, index: int, start: float, end: float, counts: Counts) -> None:
        start = max(start, self.started_at)
        if self.stopped_at is not None:
            end = min(end, self.stopped_at)
        end = max(end, start)
        for (request_type, name, ok), buckets in sorted(counts.items()):
            self.requests_written += sum(buckets.values())
            tag = encode_tag("ok" if ok else "fail", f"{request_type} {name}")
            self.writer.write_counts(tag, start - self.started_at, end - self.started_at, buckets)
        if self.on_written is not None:
            self.on_written(index, start, end, counts)
