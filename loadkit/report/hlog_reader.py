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
            if lines.layout is None:
                lines.layout = layout
            elif (layout.lowest, layout.significant_figures) != (
                lines.layout.lowest,
                lines.layout.significant_figures,
            ):
                lines.skipped += 1  # a histogram of another precision cannot be merged
                continue
            elif layout.highest > lines.layout.highest:
                lines.layout = layout
            lines.times.append(t + base_time)
            lines.lengths.append(length)
            lines.tags.append(tag)
            lines.streams.append(stream)
    return lines


def read_latency_log(path: Path) -> LatencyLog:
    """Parse ``path``; a missing file gives an empty log.

    Rows come out sorted by (t, endpoint, outcome), with the entries of each
    row in bucket order. Analysis relies on it: a time range is a contiguous
    slice of entries, and groups numbered (interval, endpoint) are sorted.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not path.exists():
        rows = pd.DataFrame({"t": [], "length": [], "endpoint": [], "outcome": [], "count": []})
        return LatencyLog(rows.astype({"count": "int64"}), empty, empty.copy(), empty.copy())
    lines = _parse(path)
    layout = lines.layout or Layout()
    decoded = {tag: decode_tag(tag) for tag in set(lines.tags)}
    endpoints = np.array([decoded[tag][1] for tag in lines.tags], dtype=object)
    failed = np.array([decoded[tag][0] == "fail" for tag in lines.tags], dtype=bool)
    times = np.asarray(lines.times, dtype=np.float64)
    codes = pd.Categorical(endpoints, categories=sorted(set(decoded[t][1] for t in decoded))).codes
    order = np.lexsort((failed, codes, times))
    streams: list[bytes] = [lines.streams[k] for k in order]
    lines.streams.clear()
    # every kept bucket takes at least one byte of a stream: the total bounds the entries,
    # so the arrays are filled in place, chunk by chunk, without a second copy
    capacity = sum(len(stream) for stream in streams)
    entry_row, entry_index, entry_count = (np.empty(capacity, dtype=np.int32) for _ in range(3))
    filled = 0
    for first in range(0, len(streams), _DECODE_CHUNK):
        chunk = streams[first : first + _DECODE_CHUNK]
        streams[first : first + len(chunk)] = [b""] * len(chunk)  # free them as we go
        rows_of, index, count = decode_batch(chunk, layout.counts_len)
        end = filled + len(index)
        entry_row[filled:end], entry_index[filled:end], entry_count[filled:end] = (
            rows_of + first,
            index,
            count,
        )
        filled = end
    del streams
    entry_row, entry_index, entry_count = (
        entry_row[:filled],
        entry_index[:filled],
        entry_count[:filled],
    )
    counts = np.bincount(entry_row, weights=entry_count, minlength=len(order))
    rows = pd.DataFrame(
        {
            "t": times[order],
            "length": np.asarray(lines.lengths, dtype=np.float64)[order],
            "endpoint": endpoints[order],
            "outcome": np.where(failed[order], "fail", "ok"),
            "count": np.rint(counts).astype(np.int64),
        }
    )
    return LatencyLog(
        rows, entry_row, entry_index, entry_count, layout, lines.start_time, lines.skipped
    )


_DECODE_CHUNK = 4000
