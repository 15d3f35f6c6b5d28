"""Read ``latency.hlog`` (the standard HdrHistogram interval log) into arrays.

One row per tagged interval histogram (endpoint, outcome, start, length,
count), and the non-empty buckets of all of them in three flat parallel arrays
(row, bucket index, count), ready for vectorised merging and percentiles in
:mod:`loadkit.report.hdr`. Torn or malformed lines (a killed run) are skipped
and counted, never fatal. Tags follow docs/run-dir.md (``ok:POST%20/execute``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

from loadkit.report.hdr import IntArray, Layout
from loadkit.report.hdr_batch import decode_batch, unwrap

__all__ = ["LatencyLog", "decode_tag", "read_latency_log"]

_START_TIME = re.compile(r"#\[StartTime:\s*([0-9.eE+-]+)")
_BASE_TIME = re.compile(r"#\[BaseTime:\s*([0-9.eE+-]+)")
_OUTCOMES = ("ok", "fail")


def decode_tag(tag: str) -> tuple[str, str]:
    """``"ok:POST%20/execute"`` -> ``("ok", "POST /execute")``; a foreign tag counts as ok."""
    outcome, sep, endpoint = tag.partition(":")
    if not sep or outcome not in _OUTCOMES:
        return "ok", unquote(tag)
    return outcome, unquote(endpoint)


@dataclass
class LatencyLog:
    """Every interval histogram of a run, as a table plus flat bucket arrays."""

    rows: pd.DataFrame  # t, length, endpoint, outcome, count (t: seconds from run start)
    entry_row: IntArray
    entry_index: IntArray
    entry_count: IntArray
    layout: Layout = field(default_factory=Layout)
    start_time: float | None = None
    skipped_lines: int = 0

    @property
    def endpoints(self) -> list[str]:
        return sorted(self.rows["endpoint"].unique().tolist()) if len(self.rows) else []


@dataclass
class _Lines:
    times: list[float] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    streams: list[bytes] = field(default_factory=list)
    layout: Layout | None = None
    start_time: float | None = None
    skipped: int = 0


def _parse(path: Path) -> _Lines:
    lines = _Lines()
    base_time = 0.0
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("#"):
                if match := _START_TIME.match(line):
                    lines.start_time = float(match.group(1))
                elif match := _BASE_TIME.match(line):
                    base_time = float(match.group(1))
                continue
            if not line.strip() or line.startswith('"'):
                continue
            parts = line.rstrip("\n").split(",")
            tag = parts.pop(0)[4:] if parts[0].startswith("Tag=") else ""
            try:
                if len(parts) != 4:
                    raise ValueError("wrong number of fields")
                t, length = float(parts[0]), float(parts[1])
                layout, stream = unwrap(parts[3].strip())
            except ValueError:  # a torn or garbled line
                lines.skipped += 1
                continue
            if lines.layout is None or layout.highest > lines.layout.highest:
                if lines.layout is not None and (layout.lowest, layout.significant_figures) != (
                    lines.layout.lowest,
                    lines.layout.significant_figures,
                ):
                    lines.skipped += 1  # another precision cannot be merged
                    continue
                lines.layout = layout
            elif (layout.lowest, layout.significant_figures) != (
                lines.layout.lowest,
                lines.layout.significant_figures,
            ):
                lines.skipped += 1
                continue
            lines.times.append(t + base_time)
            lines.lengths.append(length)
            lines.tags.append(tag)
            lines.streams.append(stream)
    return lines


def read_latency_log(path: Path) -> LatencyLog:
    """Parse ``path``; a missing file gives an empty log."""
    empty = np.zeros(0, dtype=np.int64)
    if not path.exists():
        rows = pd.DataFrame({"t": [], "length": [], "endpoint": [], "outcome": [], "count": []})
        return LatencyLog(rows.astype({"count": "int64"}), empty, empty.copy(), empty.copy())
    lines = _parse(path)
    layout = lines.layout or Layout()
    parts = []
    for first in range(0, len(lines.streams), _DECODE_CHUNK):  # bounded temporary memory
        chunk = lines.streams[first : first + _DECODE_CHUNK]
        rows_of, index, count = decode_batch(chunk, layout.counts_len)
        parts.append((rows_of + first, index, count))
    lines.streams.clear()
    entry_row, entry_index, entry_count = (
        np.concatenate([part[k] for part in parts]) if parts else empty.copy() for k in range(3)
    )
    decoded = {tag: decode_tag(tag) for tag in set(lines.tags)}
    counts = np.bincount(entry_row, weights=entry_count, minlength=len(lines.tags))
    rows = pd.DataFrame(
        {
            "t": np.asarray(lines.times, dtype=np.float64),
            "length": np.asarray(lines.lengths, dtype=np.float64),
            "endpoint": [decoded[tag][1] for tag in lines.tags],
            "outcome": [decoded[tag][0] for tag in lines.tags],
            "count": np.rint(counts).astype(np.int64),
        }
    )
    log = LatencyLog(
        rows, entry_row, entry_index, entry_count, layout, lines.start_time, lines.skipped
    )
    return _in_time_order(log)


_DECODE_CHUNK = 4000


def _in_time_order(log: LatencyLog) -> LatencyLog:
    """Rows sorted by (t, endpoint, outcome), entries following their rows.

    Analysis relies on it: a time range is a contiguous slice, and groups
    numbered (interval, endpoint) come out sorted.
    """
    rows = log.rows
    endpoint_codes = pd.Categorical(rows["endpoint"], categories=sorted(rows["endpoint"].unique()))
    failed = rows["outcome"].to_numpy() == "fail"
    order = np.lexsort((failed, endpoint_codes.codes, rows["t"].to_numpy()))
    if np.array_equal(order, np.arange(len(rows))):
        return log
    sizes = np.bincount(log.entry_row, minlength=len(rows))
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    new_sizes = sizes[order]
    new_starts = np.concatenate(([0], np.cumsum(new_sizes)[:-1]))
    gather = np.repeat(starts[order] - new_starts, new_sizes) + np.arange(int(new_sizes.sum()))
    log.rows = rows.iloc[order].reset_index(drop=True)
    log.entry_row = np.repeat(np.arange(len(rows), dtype=np.int32), new_sizes)
    log.entry_index = log.entry_index[gather]
    log.entry_count = log.entry_count[gather]
    return log
