"""Load a run directory (docs/run-dir.md) for analysis: run.json, events, resources, latency.

Every reader tolerates what a killed run leaves behind: a torn last line, a
missing optional file, a ``run.json`` without its end fields. What cannot be
judged is bad input (:class:`RunDirError`, exit 2): a missing directory, a
missing or unreadable ``run.json`` (:mod:`loadkit.rundir.meta`), a missing
``latency.hlog`` or one that is not an interval log at all.

Everything else is checked before use (types, ranges, finite numbers, time moving
forward, every number bounded) and what is left out is listed in ``warnings``.
What may hide measured requests (lines of the latency log skipped in a run that
finished, fewer requests than Locust counted) is also listed in ``damage``: the
reporter then cannot pass the run. The checks are the union of ``run.json``'s and
those the ``run_start`` event recorded, so damaging one copy cannot drop a check.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from loadkit.errors import RunDirError
from loadkit.rundir.hlog_reader import LatencyLog, empty_latency_log, read_latency_log
from loadkit.rundir.hlog_stream import peek_start_time
from loadkit.rundir.layout import (
    EVENTS_JSONL,
    LATENCY_HLOG,
    RESOURCE_COLUMNS,
    RESOURCES_CSV,
    EventType,
)
from loadkit.rundir.meta import (
    EPOCH_RANGE,
    MAX_INTERVAL_S,
    MAX_RUN_S,
    MIN_INTERVAL_S,
    RunMeta,
    finite_number,
    read_run_json,
)

__all__ = ["RunData", "attach_latency", "load_run_dir"]


MAX_SLOTS: Final = 500_000  # intervals per run the series may have (coarser beyond)
EARLY_S: Final = 3_600.0  # events may predate the start (kept from before the first test)
LATE_S: Final = 600.0  # ... and follow the last measurement (reverts, the stop)
CLOCK_SKEW_S: Final = 3_600.0  # started_at and the hlog's StartTime differ less (or: damage)
MAX_EVENTS_LINE: Final = 1 << 20  # bytes: a longer events.jsonl line is damage, not parsed


@dataclass
class RunData:
    """Everything the reporter knows about one run. Times are seconds from the run start."""

    path: Path
    meta: dict[str, Any]  # run.json, its fields checked (a bad one is None)
    start_time: float
    end_s: float  # length of the run in seconds (last data point or stop time)
    latency: LatencyLog
    events: list[dict[str, Any]]  # each with "s" (seconds from start) added
    resources: pd.DataFrame  # RESOURCE_COLUMNS plus "s"
    warnings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # run.json's and run_start's, merged
    baseline: str | None = None
    damage: list[str] = field(default_factory=list)  # what may hide measured requests
    interval_s: float = 1.0  # of the series: the run's interval, coarser on a very long run
    latency_shift_s: float = 0.0  # added to latency.hlog's times to put them on the run's clock

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.meta.get("run_id") or self.path.name)


def _read_events(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    file = path / EVENTS_JSONL
    if not file.exists():
        return []
    events: list[dict[str, Any]] = []
    bad = 0
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        warnings.append(f"events.jsonl cannot be read ({exc.strerror}): no phases or faults")
        return []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line) if len(line) <= MAX_EVENTS_LINE else None
        except (json.JSONDecodeError, RecursionError):
            event = None
        t = finite_number(event.get("t")) if isinstance(event, dict) else None
        if event is None or t is None or not isinstance(event.get("type"), str):
            bad += 1
            continue
        event["t"] = t
        events.append(event)
    if bad:
        warnings.append(f"events.jsonl: skipped {bad} torn or malformed line(s)")
    events.sort(key=lambda event: float(event["t"]))
    return events


_RESOURCE_LIMITS: Final = {  # column -> largest plausible value
    "cpu_percent": 100_000.0,  # 1,000 cores busy
    "rss_bytes": 1e15,
    "num_fds": 1e9,
    "connections": 1e9,
}


def _read_resources(path: Path, warnings: list[str]) -> pd.DataFrame:
    file = path / RESOURCES_CSV
    empty = pd.DataFrame({column: pd.Series(dtype="object") for column in RESOURCE_COLUMNS})
    empty["t"] = empty["t"].astype("float64")
    if not file.exists():
        return empty
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        warnings.append(f"resources.csv cannot be read ({exc.strerror}): no resource plots")
        return empty
    if not text.endswith("\n") and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # drop a torn last line
        warnings.append("resources.csv: dropped a torn last line")
    try:
        frame = pd.read_csv(io.StringIO(text), on_bad_lines="skip", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        warnings.append("resources.csv is unreadable: resource plots are left out")
        return empty
    if not {"t", "source"} <= set(frame.columns):
        warnings.append("resources.csv has no t/source columns: resource plots are left out")
        return empty
    frame["t"] = pd.to_numeric(frame["t"], errors="coerce")
    for column, limit in _RESOURCE_LIMITS.items():
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce")
            frame[column] = values.where((values >= 0) & (values <= limit))
    frame["source"] = frame["source"].fillna("").astype(str)
    good = frame["t"].notna() & np.isfinite(frame["t"].to_numpy(dtype="float64"))
    if not good.all():
        warnings.append(f"resources.csv: skipped {int((~good).sum())} row(s) without a time")
    kept: pd.DataFrame = frame[good].reset_index(drop=True)
    return kept


def _start_time(
    meta: RunMeta, latency: LatencyLog, events: list[dict[str, Any]], warnings: list[str]
) -> tuple[float, bool]:
    """The run's start (epoch seconds) and whether hlog rows must be shifted onto it."""
    log_start = latency.start_time
    if log_start is not None and not EPOCH_RANGE[0] <= log_start <= EPOCH_RANGE[1]:
        warnings.append(f"latency.hlog: StartTime {log_start!r} is not a time; left out")
        log_start = None
    start = meta.started_at
    if start is not None and log_start is not None and abs(start - log_start) > CLOCK_SKEW_S:
        warnings.append(
            f"run.json's started_at and latency.hlog's StartTime differ by "
            f"{abs(start - log_start):.0f}s: one is damaged; latency times are taken as written"
        )
        return start, False
    if start is None:
        start = log_start
    if start is None:
        starts = [e["t"] for e in events if e["type"] == EventType.RUN_START]
        start = starts[0] if starts else (events[0]["t"] if events else 0.0)
    shift = log_start is not None and abs(log_start - start) > 1e-3
    return float(start), shift


def _merge_checks(
    meta: RunMeta, events: list[dict[str, Any]], warnings: list[str]
) -> tuple[list[str], str | None]:
    """run.json's checks plus any the run_start event recorded; the baseline likewise."""
    checks, baseline = list(meta.checks), meta.baseline
    for event in events:
        if event["type"] != EventType.RUN_START:
            continue
        recorded = event.get("checks")
        if isinstance(recorded, list) and all(isinstance(c, str) for c in recorded):
            extra = [c for c in recorded if c not in checks]
            if extra:
                warnings.append(
                    f"run.json lacks {len(extra)} check(s) recorded at the start "
                    "(events.jsonl): all are evaluated"
                )
                checks += extra
        recorded_baseline = event.get("baseline")
        if baseline is None and isinstance(recorded_baseline, str):
            warnings.append("run.json lacks the baseline recorded at the start: it is used")
            baseline = recorded_baseline
        break
    return checks, baseline


def _hlog_damage(
    meta: RunMeta, latency: LatencyLog, warnings: list[str], damage: list[str]
) -> None:
    """Lines of the latency log left out, and requests it lacks against Locust's totals.

    Everything goes to ``warnings``; what may hide measured requests also to ``damage``.
    """

    skipped = latency.skipped_lines
    if skipped:
        text = f"latency.hlog: skipped {skipped} torn or malformed line(s)"
        warnings.append(text)
        if meta.finished or skipped > 1:  # a killed run may leave one torn last line
            damage.append(text)
    if latency.out_of_range:
        damage.append(
            f"latency.hlog: skipped {latency.out_of_range} line(s) with an impossible time "
            "or interval length"
        )
        warnings.append(damage[-1])
    if latency.unknown_tags:
        tags = ", ".join(repr(tag) for tag in sorted(latency.unknown_tags)[:3])
        more = " …" if len(latency.unknown_tags) > 3 else ""
        damage.append(
            f"latency.hlog: skipped {sum(latency.unknown_tags.values())} line(s) whose tag loadkit "
            f"does not write ({tags}{more}; a tag is ok:<endpoint> or fail:<endpoint>, "
            "percent-encoded): they count in no endpoint"
        )
        warnings.append(damage[-1])
    if meta.totals is None or not meta.finished:
        return
    rows = latency.rows
    requests = int(rows["count"].sum())
    failures = int(rows.loc[rows["outcome"] == "fail", "count"].sum())
    counted, failed = meta.totals
    workers = meta.document.get("runner")
    distributed = isinstance(workers, dict) and workers.get("mode") == "master"
    slack = int(counted * 0.005) if distributed else 0  # a worker's last message may be lost
    if requests + slack < counted or failures + slack < failed:
        damage.append(
            f"latency.hlog holds {requests} request(s) ({failures} failed) of the {counted} "
            f"({failed} failed) Locust counted"
        )
        warnings.append(damage[-1])
    elif not distributed and counted > 0 and (requests > counted or failures > failed):
        # repeated or added lines (they can lower every percentile); a local run's log
        # holds exactly what Locust counted (stats reset: no totals are written)
        damage.append(
            f"latency.hlog holds {requests} request(s) ({failures} failed), more than the "
            f"{counted} ({failed} failed) Locust counted: lines repeated or added"
        )
        warnings.append(damage[-1])


def _series_interval(
    meta: RunMeta,
    latency: LatencyLog,
    end_s: float,
    warnings: list[str],
    median_length: float | None = None,
) -> float:
    interval = meta.interval_s
    if interval is None and median_length is not None:
        interval = median_length
    elif interval is None and len(latency.rows):
        interval = float(np.median(latency.rows["length"].to_numpy()))
    interval = min(max(interval or 1.0, MIN_INTERVAL_S), MAX_INTERVAL_S)
    if end_s / interval > MAX_SLOTS:
        coarse = end_s / MAX_SLOTS
        warnings.append(f"a {end_s:.0f}s run: over-time series use {coarse:.3g}s intervals")
        interval = coarse
    return interval


def load_run_dir(path: Path, *, read_latency: bool = True) -> RunData:
    """Load ``path`` or raise :class:`RunDirError` naming what is wrong.

    ``read_latency=False`` leaves ``latency`` empty (its ``start_time`` read from the
    log's header) for a caller that streams the log itself and then calls
    :func:`attach_latency` (:func:`loadkit.report.stream.stream_latency`).
    """
    if not path.is_dir():
        raise RunDirError(
            "is not a directory",
            source=str(path),
            fix="pass a run directory such as reports/<run-id>",
        )
    meta = read_run_json(path)
    hlog = path / LATENCY_HLOG
    if not hlog.is_file():
        raise RunDirError(
            "is missing", source=str(hlog), fix="pass a complete run directory written by loadkit"
        )
    warnings, damage = list(meta.warnings), list[str]()
    if read_latency:
        latency = read_latency_log(hlog)
        _check_latency(meta, latency, hlog, warnings, damage)
    else:
        latency = empty_latency_log()
        latency.start_time = peek_start_time(hlog)
    events = _read_events(path, warnings)
    checks, baseline = _merge_checks(meta, events, warnings)
    resources = _read_resources(path, warnings)
    start, shift = _start_time(meta, latency, events, warnings)
    if shift and latency.start_time is not None:
        # hlog times are relative to its own StartTime: put them on the run's clock
        latency.rows["t"] = latency.rows["t"] + (latency.start_time - start)
    ends = [0.0]
    if len(latency.rows):
        ends.append(float((latency.rows["t"] + latency.rows["length"]).max()))
    if meta.stopped_at is not None and 0 <= meta.stopped_at - start <= MAX_RUN_S:
        ends.append(meta.stopped_at - start)
    measured_end = max(ends)
    horizon = measured_end + LATE_S if len(ends) > 1 else MAX_RUN_S
    kept = [e for e in events if -EARLY_S <= e["t"] - start <= horizon]
    if len(kept) < len(events):
        warnings.append(
            f"events.jsonl: skipped {len(events) - len(kept)} event(s) far outside the run "
            "(a damaged clock)"
        )
    for event in kept:
        event["s"] = float(event["t"]) - start
    if kept:
        ends.append(kept[-1]["s"])
    end_s = max(ends)
    resources["s"] = resources["t"].astype("float64") - start
    inside = (resources["s"] >= -EARLY_S) & (resources["s"] <= end_s + LATE_S)
    if not inside.all():
        warnings.append(f"resources.csv: skipped {int((~inside).sum())} row(s) outside the run")
        resources = resources[inside].reset_index(drop=True)
    # streamed: the run's interval for now (attach_latency settles it with the log's end)
    interval = _series_interval(meta, latency, end_s, warnings if read_latency else [])
    return RunData(
        path,
        meta.document,
        start,
        end_s,
        latency,
        kept,
        resources,
        warnings,
        checks,
        baseline,
        damage,
        interval,
        latency.start_time - start if shift and latency.start_time is not None else 0.0,
    )


def _check_latency(
    meta: RunMeta, latency: LatencyLog, hlog: Path, warnings: list[str], damage: list[str]
) -> None:
    if latency.start_time is None and not len(latency.rows):  # no header, nothing readable
        raise RunDirError(
            "is empty or not an HdrHistogram interval log",
            source=str(hlog),
            fix="pass a run directory written by loadkit",
        )
    _hlog_damage(meta, latency, warnings, damage)
    if not len(latency.rows):
        with hlog.open("rb") as file:
            head = file.read(4096)
        if b'"StartTimestamp"' not in head:  # the writer writes the whole header at once
            damage.append("latency.hlog is cut inside its header: no request can be read")
            warnings.append(damage[-1])
        warnings.append("latency.hlog holds no requests")


def attach_latency(
    run: RunData, latency: LatencyLog, measured_end_s: float | None, median_length: float | None
) -> None:
    """Give a run loaded with ``read_latency=False`` its (streamed) latency log: the checks
    and warnings of the log, the run's end and the series interval, as when read whole.
    ``latency.rows`` may be merged rows: only their count and outcome are used here; the
    log's end and median interval length come from the stream."""
    meta = read_run_json(run.path)
    _check_latency(meta, latency, run.path / LATENCY_HLOG, run.warnings, run.damage)
    run.latency = latency
    if measured_end_s is not None:
        run.end_s = max(run.end_s, measured_end_s)
    run.interval_s = _series_interval(meta, latency, run.end_s, run.warnings, median_length)
