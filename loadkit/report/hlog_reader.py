"""Read ``latency.hlog`` (the standard HdrHistogram interval log) into arrays.

One row per tagged interval histogram (endpoint, outcome, start, length,
count), and the non-empty buckets of all of them in three flat parallel arrays
(row, bucket index, count), ready for vectorised merging and percentiles in
:mod:`loadkit.report.hdr`. Torn or malformed lines (a killed run) are skipped
and counted, never fatal.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

from loadkit.report.hdr import IntArray, Layout, decode_sparse

__all__ = ["LatencyLog", "decode_tag", "read_latency_log"]

_START_TIME = re.compile(r"#\[StartTime:\s*([0-9.eE+-]+)")
_BASE_TIME = re.compile(r"#\[BaseTime:\s*([0-9.eE+-]+)")
_OUTCOMES = ("ok", "fail")


def decode_tag(tag: str) -> tuple[str, str]:
    """``"ok:POST%20/execute"`` -> ``("ok", "POST /execute")`` (see docs/run-dir.md)."""
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


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "t": pd.Series(dtype="float64"),
            "length": pd.Series(dtype="float64"),
            "endpoint": pd.Series(dtype="object"),
            "outcome": pd.Series(dtype="object"),
            "count": pd.Series(dtype="int64"),
        }
    )


def read_latency_log(path: Path) -> LatencyLog:
    """Parse ``path``; a missing file gives an empty log."""
    if not path.exists():
        empty = np.zeros(0, dtype=np.int64)
        return LatencyLog(_empty_rows(), empty, empty.copy(), empty.copy())
    start_time: float | None = None
    base_time = 0.0
    times: list[float] = []
    lengths: list[float] = []
    endpoints: list[str] = []
    outcomes: list[str] = []
    row_counts: list[int] = []
    indices: list[IntArray] = []
    counts: list[IntArray] = []
    layout: Layout | None = None
    skipped = 0
    tag_cache: dict[str, tuple[str, str]] = {}
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("#"):
                if match := _START_TIME.match(line):
                    start_time = float(match.group(1))
                elif match := _BASE_TIME.match(line):
                    base_time = float(match.group(1))
                continue
            if not line.strip() or line.startswith('"'):
                continue
            parts = line.rstrip("\n").split(",")
            tag = ""
            if parts[0].startswith("Tag="):
                tag = parts.pop(0)[4:]
            if len(parts) != 4:
                skipped += 1
                continue
            try:
                t, length = float(parts[0]), float(parts[1])
                hist_layout, index, count = decode_sparse(parts[3].strip())
            except (ValueError, zlib.error, struct.error):  # a torn or garbled line
                skipped += 1
                continue
            if layout is None:
                layout = hist_layout
            elif (hist_layout.lowest, hist_layout.significant_figures) != (
                layout.lowest,
                layout.significant_figures,
            ):
                skipped += 1  # a histogram of another precision cannot be merged
                continue
            elif hist_layout.highest > layout.highest:
                layout = hist_layout
            decoded = tag_cache.get(tag)
            if decoded is None:
                decoded = tag_cache[tag] = decode_tag(tag)
            times.append(t + base_time)
            lengths.append(length)
            outcomes.append(decoded[0])
            endpoints.append(decoded[1])
            row_counts.append(int(count.sum()))
            indices.append(index)
            counts.append(count)
    rows = (
        _empty_rows()
        if not times
        else pd.DataFrame(
            {
                "t": times,
                "length": lengths,
                "endpoint": endpoints,
                "outcome": outcomes,
                "count": np.asarray(row_counts, dtype=np.int64),
            }
        )
    )
    sizes = np.fromiter((len(i) for i in indices), dtype=np.int64, count=len(indices))
    entry_row = np.repeat(np.arange(len(indices), dtype=np.int64), sizes)
    entry_index = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    entry_count = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return LatencyLog(
        rows, entry_row, entry_index, entry_count, layout or Layout(), start_time, skipped
    )
