"""Read ``latency.hlog`` a bounded chunk of lines at a time.

The streamed twin of :func:`loadkit.rundir.hlog_reader.read_latency_log`, for
runs of any length: each :class:`Chunk` holds the decoded histograms of up to
``chunk_lines`` lines (file order, not sorted) and is dropped by the caller once
folded into its sums, so memory does not grow with the run. The rules are the
reader's: torn or malformed lines are skipped and counted; a tag loadkit cannot
have written is kept in ``unknown_tags``; the first good histogram sets the
precision (lowest value, significant figures) and histograms of another
precision are skipped. Times are the file's own (``BaseTime`` added), seconds.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_batch import check_headers, decode_payloads
from loadkit.rundir.hdr_codec import IntArray, Layout, layout_for
from loadkit.rundir.hlog_reader import InflatedLines, decode_tag_or_none, parse_lines

__all__ = ["Chunk", "HlogStream", "peek_start_time"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHUNK_LINES = 4096
_WIDEST = 1 << 62  # decode with the widest layout; the final layout is the widest seen


@dataclass
class Chunk:
    """The kept histograms of some lines: one row each, and their non-empty buckets."""

    t: FloatArray  # start of each interval (file clock + BaseTime), seconds
    length: FloatArray
    endpoint: IntArray  # code into HlogStream.endpoints
    failed: BoolArray
    total: IntArray  # the count of each histogram
    entry_row: IntArray  # row of each non-empty bucket (rows in chunk order)
    entry_index: IntArray
    entry_count: IntArray


@dataclass
class HlogStream:
    """Chunks of one interval log, with what the reader reports about it."""

    path: Path
    chunk_lines: int | None = None  # None: CHUNK_LINES
    start_time: float | None = None
    endpoints: list[str] = field(default_factory=list)  # in order of first appearance
    skipped_lines: int = 0
    unknown_tags: dict[str, int] = field(default_factory=dict)
    lowest: int | None = None  # precision of the kept histograms (from the first good one)
    significant_figures: int | None = None
    highest: int = 0  # the widest kept histogram
    bytes_read: int = 0

    @property
    def layout(self) -> Layout:
        """The bucket layout of the kept histograms (the widest of them)."""
        if self.lowest is None or self.significant_figures is None:
            return Layout()
        return layout_for(self.lowest, self.highest, self.significant_figures)

    def chunks(self) -> Iterator[Chunk]:
        if not self.path.exists():
            return
        code_of: dict[str, int] = {}
        tag_cache: dict[str, tuple[int, bool] | None] = {}
        with self.path.open("r", encoding="utf-8", errors="replace") as handle:
            state = InflatedLines()
            more = True
            while more:
                lines = InflatedLines(start_time=state.start_time, base_time=state.base_time)
                more = parse_lines(handle, lines, self.chunk_lines or CHUNK_LINES)
                state = lines
                self.start_time = lines.start_time
                self.skipped_lines += lines.skipped
                self.bytes_read = cast(io.BufferedReader, handle.buffer).tell()
                chunk = self._decode(lines, code_of, tag_cache)
                if chunk is not None:
                    yield chunk

    def _decode(
        self,
        lines: InflatedLines,
        code_of: dict[str, int],
        tag_cache: dict[str, tuple[int, bool] | None],
    ) -> Chunk | None:
        if not lines.payloads:
            return None
        headers = check_headers(lines.externals, lines.compressed_lengths, lines.payloads)
        keys: list[tuple[int, bool] | None] = []
        for tag in lines.tags:
            if tag not in tag_cache:
                parsed = decode_tag_or_none(tag)
                if parsed is None:
                    tag_cache[tag] = None
                else:
                    outcome, endpoint = parsed
                    if endpoint not in code_of:
                        code_of[endpoint] = len(self.endpoints)
                        self.endpoints.append(endpoint)
                    tag_cache[tag] = (code_of[endpoint], outcome == "fail")
            key = tag_cache[tag]
            if key is None:
                self.unknown_tags[tag] = self.unknown_tags.get(tag, 0) + 1
            keys.append(key)
        known = np.fromiter((k is not None for k in keys), dtype=bool, count=len(keys))
        usable = headers.valid & known
        if self.lowest is None and usable.any():
            first = int(np.argmax(usable))
            self.lowest = int(headers.lowest[first])
            self.significant_figures = int(headers.significant_figures[first])
        kept = usable & (headers.lowest == self.lowest)
        kept &= headers.significant_figures == self.significant_figures
        self.skipped_lines += int(known.sum() - kept.sum())
        source = np.flatnonzero(kept)
        if len(source) == 0:
            return None
        self.highest = max(self.highest, int(headers.highest[source].max()))
        assert self.lowest is not None and self.significant_figures is not None
        widest = layout_for(self.lowest, _WIDEST, self.significant_figures)
        payloads = [lines.payloads[k] for k in source.tolist()]
        lines.payloads.clear()
        decoded = decode_payloads(payloads, headers.size[source], widest.counts_len)
        chosen = [keys[k] for k in source.tolist()]
        return Chunk(
            t=np.asarray(lines.times, dtype=np.float64)[source],
            length=np.asarray(lines.lengths, dtype=np.float64)[source],
            endpoint=np.fromiter((k[0] for k in chosen if k), np.int64, len(chosen)),
            failed=np.fromiter((k[1] for k in chosen if k), bool, len(chosen)),
            total=decoded.row_total,
            entry_row=decoded.row,
            entry_index=decoded.index,
            entry_count=decoded.count,
        )


def peek_start_time(path: Path) -> float | None:
    """The ``#[StartTime: ...]`` of a log (from its header lines), or None."""
    if not path.exists():
        return None
    lines = InflatedLines()
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        parse_lines(handle, lines, 1)
    return lines.start_time
