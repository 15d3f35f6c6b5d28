"""Read ``latency.hlog`` (the standard HdrHistogram interval log) into arrays.

One row per tagged interval histogram (endpoint, outcome, start, length,
count), and the non-empty buckets of all of them in three flat parallel arrays
(row, bucket index, count), ready for vectorised merging and percentiles in
the reporter (:mod:`loadkit.report.hdr`). Torn or malformed lines (a killed run) are skipped
and counted, never fatal; so are lines with a time or length no run can have
(``out_of_range``). Tags follow docs/run-dir.md (``ok:POST%20/execute``,
decoded by :func:`loadkit.rundir.hlog.decode_tag`); a line whose tag loadkit
cannot have written is skipped and its tag kept in ``unknown_tags`` (never
counted as some endpoint); an untagged line is the unnamed endpoint ``""``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from loadkit.rundir.hdr_batch import check_headers, decode_payloads
from loadkit.rundir.hdr_codec import IntArray, Layout
from loadkit.rundir.hlog import Outcome, decode_tag
from loadkit.rundir.hlog_lines import InflatedLines, parse_lines

__all__ = [
    "MAX_ROW_LENGTH_S",
    "MAX_ROW_TIME_S",
    "InflatedLines",
    "LatencyLog",
    "decode_tag_or_none",
    "empty_latency_log",
    "parse_lines",
    "read_latency_log",
]

MAX_ROW_TIME_S = 32 * 86_400.0  # from the log's start: a month and a day
MAX_ROW_LENGTH_S = 7_200.0  # an interval histogram covers at most two hours


@dataclass
class LatencyLog:
    """Every interval histogram of a run, as a table plus flat bucket arrays."""

    rows: pd.DataFrame  # t, length, endpoint, outcome, count (t: seconds from run start)
    entry_row: IntArray
    entry_index: IntArray
    entry_count: IntArray
    layout: Layout = field(default_factory=Layout)
    start_time: float | None = None
    skipped_lines: int = 0  # torn or malformed
    unknown_tags: dict[str, int] = field(default_factory=dict)  # tag -> lines skipped
    out_of_range: int = 0  # lines skipped for a time or length no run can have

    def entry_slice(self, first_row: int, end_row: int) -> slice:
        """The entries of rows ``first_row`` to ``end_row`` (exclusive); rows are sorted."""
        keys = np.array([first_row, end_row], dtype=self.entry_row.dtype)  # no int64 copy
        lo, hi = np.searchsorted(self.entry_row, keys)
        return slice(int(lo), int(hi))

    @property
    def endpoints(self) -> list[str]:
        return sorted(self.rows["endpoint"].unique().tolist()) if len(self.rows) else []


def _parse(path: Path) -> InflatedLines:
    """Inflate every data line (base64 + zlib); headers are checked later, all at once."""
    lines = InflatedLines()
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        parse_lines(handle, lines)
    return lines


def read_latency_log(path: Path) -> LatencyLog:
    """Parse ``path``; a missing file gives an empty log.

    Rows come out sorted by (t, endpoint, outcome), with the entries of each
    row in bucket order. Analysis relies on it: a time range is a contiguous
    slice of entries, and groups numbered (interval, endpoint) are sorted.
    """
    empty = np.zeros(0, dtype=np.int32)
    if not path.exists():
        return _empty_log(empty)
    lines = _parse(path)
    headers = (
        check_headers(lines.externals, lines.compressed_lengths, lines.payloads)
        if lines.payloads
        else None
    )
    lines.externals.clear()
    tag_names = sorted(set(lines.tags))
    tag_of = {tag: k for k, tag in enumerate(tag_names)}
    tag_codes = np.fromiter((tag_of[tag] for tag in lines.tags), np.int32, len(lines.tags))
    decoded = [decode_tag_or_none(tag) for tag in tag_names]
    known = np.array([d is not None for d in decoded], dtype=bool)[tag_codes]
    unknown_codes, unknown_lines = np.unique(tag_codes[~known], return_counts=True)
    unknown_tags = {
        tag_names[c]: n for c, n in zip(unknown_codes.tolist(), unknown_lines.tolist(), strict=True)
    }
    usable = known if headers is None else headers.valid & known
    # a time or length no run can have (NaN, 1e12, a negative length): never sized by it
    times_all = np.asarray(lines.times, dtype=np.float64)
    lengths_all = np.asarray(lines.lengths, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        plausible = (
            np.isfinite(times_all)
            & np.isfinite(lengths_all)
            & (np.abs(times_all) <= MAX_ROW_TIME_S)
            & (lengths_all >= 0)  # 0: a worker's counts that arrived at the stop
            & (lengths_all <= MAX_ROW_LENGTH_S)
        )
    out_of_range = int((usable & ~plausible).sum())
    usable &= plausible
    if lines.start_time is not None and not math.isfinite(lines.start_time):
        lines.start_time = None
    if headers is None or not usable.any():
        log = _empty_log(empty)
        log.start_time, log.unknown_tags = lines.start_time, unknown_tags
        log.skipped_lines = lines.skipped + int(known.sum()) - out_of_range
        log.out_of_range = out_of_range
        return log
    # the first good histogram sets the precision; others of another precision cannot be merged
    first = int(np.argmax(usable))
    kept = (
        usable
        & (headers.lowest == headers.lowest[first])
        & (headers.significant_figures == headers.significant_figures[first])
    )
    layout = headers.layout(int(np.argmax(np.where(kept, headers.highest, -1))))  # widest
    skipped = lines.skipped + int(known.sum() - kept.sum()) - out_of_range
    endpoint_names = sorted({d[1] for d in decoded if d is not None})
    code_of = {name: code for code, name in enumerate(endpoint_names)}
    tag_endpoint = np.array([code_of[d[1]] if d else -1 for d in decoded], dtype=np.int32)
    tag_failed = np.array([d is not None and d[0] == "fail" for d in decoded], dtype=bool)
    rows_kept = np.flatnonzero(kept)
    codes, failed = tag_endpoint[tag_codes[rows_kept]], tag_failed[tag_codes[rows_kept]]
    times = times_all[rows_kept]
    order = np.lexsort((failed, codes, times))
    source = rows_kept[order]
    payloads = [lines.payloads[k] for k in source.tolist()]
    lines.payloads.clear()
    decoded_entries = decode_payloads(payloads, headers.size[source], layout.counts_len)
    del payloads
    rows = pd.DataFrame(
        {
            "t": times[order],
            "length": lengths_all[source],
            "endpoint": np.asarray(endpoint_names, dtype=object)[codes[order]],
            "outcome": np.where(failed[order], "fail", "ok"),
            "count": decoded_entries.row_total,
        }
    )
    return LatencyLog(
        rows,
        decoded_entries.row,
        decoded_entries.index,
        decoded_entries.count,
        layout,
        lines.start_time,
        skipped,
        unknown_tags,
        out_of_range,
    )


def decode_tag_or_none(tag: str) -> tuple[Outcome, str] | None:
    """``(outcome, endpoint)`` of a tag; ``None`` for a tag loadkit cannot have written."""
    if not tag:
        return "ok", ""  # an untagged log (not loadkit's): one unnamed endpoint
    try:
        return decode_tag(tag)
    except ValueError:
        return None


def empty_latency_log() -> LatencyLog:
    """A log without any histogram."""
    return _empty_log(np.zeros(0, dtype=np.int32))


def _empty_log(empty: IntArray) -> LatencyLog:
    rows = pd.DataFrame({"t": [], "length": [], "endpoint": [], "outcome": [], "count": []})
    return LatencyLog(rows.astype({"count": "int64"}), empty, empty.copy(), empty.copy())
