"""The one status line ``loadkit run`` prints every few seconds while a run goes.

``[  12s/30s] stage steady | 6 users | 41.2 req/s | errors 0.0% | p95 118 ms | faults: slow``

While a stop waits for the users' graceful stop (from its first ``stopping`` event on),
what is true then: ``stopping: waiting for 3 users (4s of 30s grace)`` and the requests
still completing. Figures are shown only while the latency log is fresh: when no
request completed in the last intervals it says so (``no requests completed since 31s``)
instead of repeating the last interval's figures as if the load went on.

Everything comes from the run directory (docs/run-dir.md): the stage, users and
active faults from ``events.jsonl`` (fed in by :class:`~loadkit.run.progress.ProgressPrinter`),
the rate, error share and p95 of the *last complete interval* from the new lines
of ``latency.hlog`` (loadkit's own HDR histograms, not Locust's rounded figures),
request events only, like the report's ALL row (not JOB, SESSION... composites).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadkit.report.analysis import is_composite
from loadkit.rundir.hdr_codec import IntArray, Layout, decode_sparse
from loadkit.rundir.hlog import decode_tag
from loadkit.rundir.layout import LATENCY_HLOG, EventType

__all__ = ["STALE_INTERVALS", "IntervalFigures", "LatencyTail", "RunStatus"]

# The newest interval is written one interval after it ends; older than this many
# intervals (and a second), none completed since.
STALE_INTERVALS = 3


@dataclass(frozen=True)
class IntervalFigures:
    """One interval, every endpoint merged."""

    start_s: float
    length_s: float
    count: int
    failures: int
    p95_ms: float | None


@dataclass
class _Interval:
    length_s: float = 0.0
    failures: int = 0
    layout: Layout | None = None
    counts: dict[int, int] = field(default_factory=dict)


class LatencyTail:
    """Reads the lines ``latency.hlog`` gained since the last call; keeps the last interval."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._intervals: dict[float, _Interval] = {}
        self.last: IntervalFigures | None = None

    def poll(self) -> IntervalFigures | None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return self.last
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        self._offset += len(complete)
        for raw in complete.decode("utf-8", errors="replace").splitlines():
            self._add(raw)
        if self._intervals:
            newest = max(self._intervals)
            self.last = self._figures(newest, self._intervals[newest])
            self._intervals = {newest: self._intervals[newest]}  # late lines may still come
        return self.last

    def _add(self, line: str) -> None:
        if not line.startswith("Tag="):
            return
        fields = line.split(",")
        if len(fields) != 5:
            return
        try:
            outcome, endpoint = decode_tag(fields[0][4:])
            if is_composite(endpoint):  # like the report's ALL row: request events only
                return
            start, length = float(fields[1]), float(fields[2])
            layout, index, counts = decode_sparse(fields[4])
        except ValueError:
            return
        interval = self._intervals.setdefault(start, _Interval())
        interval.length_s = max(interval.length_s, length)
        interval.layout = interval.layout or layout
        for bucket, count in zip(index.tolist(), counts.tolist(), strict=True):
            interval.counts[bucket] = interval.counts.get(bucket, 0) + count
        if outcome == "fail":
            interval.failures += int(counts.sum())

    @staticmethod
    def _figures(start: float, interval: _Interval) -> IntervalFigures:
        buckets: IntArray = np.array(sorted(interval.counts), dtype=np.int64)
        counts = np.array([interval.counts[b] for b in buckets.tolist()], dtype=np.int64)
        total = int(counts.sum())
        p95: float | None = None
        if total and interval.layout is not None:
            target = max(int(95.0 * total / 100 + 0.5), 1)  # HdrHistogram's rule
            position = int(np.searchsorted(np.cumsum(counts), target))
            p95 = float(interval.layout.highest_equivalent[buckets[position]]) / 1000.0
        return IntervalFigures(start, interval.length_s, total, interval.failures, p95)


class RunStatus:
    """What the status line shows, updated from events and the latency log."""

    def __init__(self, run_dir: Path, planned_s: float | None) -> None:
        self.run_dir = run_dir
        self.planned_s = planned_s
        self.latency = LatencyTail(run_dir / LATENCY_HLOG)
        self.start: float | None = None
        self.stage = ""
        self.users: int | None = None
        self.faults: dict[str, str] = {}  # name -> kind, while injected
        self.alerts: list[str] = []  # probe alerts, once a probe reports some
        self.stopping_since: float | None = None  # the stop's first ``stopping`` event
        self.stopping_users = 0  # users still running (in their graceful stop)
        self.grace_s: float | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        kind, name = event.get("type"), str(event.get("name") or "")
        if kind == EventType.RUN_START and isinstance(event.get("t"), int | float):
            self.start = float(event["t"])
        elif kind == EventType.STAGE:
            self.stage = name or str(int(event.get("index", 0)) + 1)
            if isinstance(event.get("users"), int):
                self.users = int(event["users"])
        elif kind == EventType.USERS and isinstance(event.get("count"), int | float):
            self.users = int(event["count"])
        elif kind == EventType.FAULT_INJECT:
            self.faults[name] = str(event.get("kind") or "")
        elif kind == EventType.FAULT_REVERT:
            self.faults.pop(name, None)
        elif kind == EventType.STOPPING and isinstance(event.get("t"), int | float):
            if self.stopping_since is None:
                self.stopping_since = float(event["t"])
            self.stopping_users = int(event.get("users") or 0)
            grace = event.get("grace_s")
            self.grace_s = float(grace) if isinstance(grace, int | float) else None

    def line(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        elapsed = 0.0 if self.start is None else max(now - self.start, 0.0)
        planned = f"/{self.planned_s:.0f}s" if self.planned_s else ""
        parts = []
        if self.stopping_since is not None:
            parts.append(self._stopping(now))
        else:
            if self.stage:
                parts.append(f"stage {self.stage}")
            if self.users is not None:
                parts.append(f"{self.users} users")
        parts.extend(self._figures(now))
        parts.append("faults: " + (", ".join(sorted(self.faults)) or "none"))
        if self.alerts:
            parts.append("alerts: " + ", ".join(self.alerts))
        return f"[{elapsed:5.0f}s{planned}] " + " | ".join(parts)

    def _stopping(self, now: float) -> str:
        users = self.stopping_users
        if users <= 0:
            return "stopping: every user stopped"
        waited = max(now - (self.stopping_since or now), 0.0)
        grace = f" of {self.grace_s:g}s grace" if self.grace_s else ""
        plural = "" if users == 1 else "s"
        return f"stopping: waiting for {users} user{plural} ({waited:.0f}s{grace})"

    def _figures(self, now: float) -> list[str]:
        last = self.latency.poll()
        if last is None or last.count == 0:
            return ["no requests yet" if last is None else "no requests"]
        if self.start is not None:
            ended = last.start_s + last.length_s  # seconds into the run
            if now - self.start - ended > STALE_INTERVALS * max(last.length_s, 1.0) + 1.0:
                return [f"no requests completed since {ended:.0f}s"]
        rate = last.count / last.length_s if last.length_s > 0 else float(last.count)
        figures = [f"{rate:.1f} req/s", f"errors {100.0 * last.failures / last.count:.1f}%"]
        if last.p95_ms is not None:
            figures.append(f"p95 {last.p95_ms:.0f} ms")
        return figures
