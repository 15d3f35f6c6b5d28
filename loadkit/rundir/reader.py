"""Load a run directory (docs/run-dir.md) for analysis: run.json, events, resources, latency.

Every reader tolerates what a killed run leaves behind: a torn last line, a
missing optional file, a ``run.json`` without its end fields. Only a missing
directory, or one with neither ``run.json`` nor ``latency.hlog``, is an error.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from loadkit.errors import RunDirError
from loadkit.rundir.hlog_reader import LatencyLog, read_latency_log
from loadkit.rundir.layout import (
    EVENTS_JSONL,
    LATENCY_HLOG,
    RESOURCE_COLUMNS,
    RESOURCES_CSV,
    RUN_JSON,
)

__all__ = ["RunData", "load_run_dir"]


@dataclass
class RunData:
    """Everything the reporter knows about one run. Times are seconds from the run start."""

    path: Path
    meta: dict[str, Any]
    start_time: float
    end_s: float  # length of the run in seconds (last data point or stop time)
    latency: LatencyLog
    events: list[dict[str, Any]]  # each with "s" (seconds from start) added
    resources: pd.DataFrame  # RESOURCE_COLUMNS plus "s"
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.meta.get("run_id") or self.path.name)

    @property
    def interval_s(self) -> float:
        value = self.meta.get("interval_s")
        return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def _read_meta(path: Path, warnings: list[str]) -> dict[str, Any]:
    file = path / RUN_JSON
    if not file.exists():
        warnings.append("run.json is missing: run details are unknown")
        return {}
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        warnings.append(f"run.json is unreadable ({exc.msg if hasattr(exc, 'msg') else exc})")
        return {}
    if not isinstance(meta, dict):
        warnings.append("run.json is not a JSON object")
        return {}
    return meta


def _read_events(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    file = path / EVENTS_JSONL
    if not file.exists():
        return []
    events: list[dict[str, Any]] = []
    bad = 0
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("t"), int | float) and "type" in event:
            events.append(event)
        else:
            bad += 1
    if bad:
        warnings.append(f"events.jsonl: skipped {bad} torn or malformed line(s)")
    events.sort(key=lambda event: float(event["t"]))
    return events


def _read_resources(path: Path, warnings: list[str]) -> pd.DataFrame:
    file = path / RESOURCES_CSV
    empty = pd.DataFrame({column: pd.Series(dtype="object") for column in RESOURCE_COLUMNS})
    if not file.exists():
        return empty
    text = file.read_text(encoding="utf-8", errors="replace")
    if not text.endswith("\n") and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # drop a torn last line
        warnings.append("resources.csv: dropped a torn last line")
    try:
        frame = pd.read_csv(io.StringIO(text), on_bad_lines="skip")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        warnings.append("resources.csv is unreadable: resource plots are left out")
        return empty
    if not {"t", "source"} <= set(frame.columns):
        warnings.append("resources.csv has no t/source columns: resource plots are left out")
        return empty
    for column in ("t", "cpu_percent", "rss_bytes", "num_fds", "connections"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.dropna(subset=["t"])


def load_run_dir(path: Path) -> RunData:
    """Load ``path`` or raise :class:`RunDirError` naming what is wrong."""
    if not path.is_dir():
        raise RunDirError(
            "is not a directory",
            source=str(path),
            fix="pass a run directory such as reports/<run-id>",
        )
    if not (path / RUN_JSON).exists() and not (path / LATENCY_HLOG).exists():
        raise RunDirError(
            "has neither run.json nor latency.hlog",
            source=str(path),
            fix="pass a run directory written by loadkit (reports/<run-id>)",
        )
    warnings: list[str] = []
    meta = _read_meta(path, warnings)
    latency = read_latency_log(path / LATENCY_HLOG)
    if latency.skipped_lines:
        warnings.append(f"latency.hlog: skipped {latency.skipped_lines} torn or malformed line(s)")
    if latency.unknown_tags:
        tags = ", ".join(repr(tag) for tag in sorted(latency.unknown_tags)[:3])
        more = " …" if len(latency.unknown_tags) > 3 else ""
        warnings.append(
            f"latency.hlog: skipped {sum(latency.unknown_tags.values())} line(s) whose tag loadkit "
            f"does not write ({tags}{more}; a tag is ok:<endpoint> or fail:<endpoint>, "
            "percent-encoded): they count in no endpoint"
        )
    events = _read_events(path, warnings)
    resources = _read_resources(path, warnings)
    start = meta.get("started_at")
    if not isinstance(start, int | float):
        start = latency.start_time
    if start is None:
        start = float(events[0]["t"]) if events else 0.0
    for event in events:
        event["s"] = float(event["t"]) - start
    resources["s"] = resources["t"].astype("float64") - start
    if latency.start_time is not None and abs(latency.start_time - start) > 1e-3:
        # hlog times are relative to its own StartTime: put them on the run's clock
        latency.rows["t"] = latency.rows["t"] + (latency.start_time - start)
    ends = [0.0]
    if len(latency.rows):
        ends.append(float((latency.rows["t"] + latency.rows["length"]).max()))
    if events:
        ends.append(float(events[-1]["s"]))
    stopped = meta.get("stopped_at")
    if isinstance(stopped, int | float):
        ends.append(float(stopped) - start)
    return RunData(path, meta, float(start), max(ends), latency, events, resources, warnings)
