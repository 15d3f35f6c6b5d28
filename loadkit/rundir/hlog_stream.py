"""Read ``latency.hlog`` a bounded chunk of lines at a time.

The streamed twin of :func:`loadkit.rundir.hlog_reader.read_latency_log`, for
runs of any length: each :class:`Chunk` holds the decoded histograms of about
``BLOCK_BYTES`` of lines (file order, not sorted) and is dropped by the caller
once folded into its sums, so memory does not grow with the run. A large log's
blocks are parsed and decoded in worker processes, and still handed out in
file order. The rules are the
reader's: torn or malformed lines are skipped and counted; a tag loadkit cannot
have written is kept in ``unknown_tags``; the first good histogram sets the
precision (lowest value, significant figures) and histograms of another
precision are skipped. Times are the file's own (``BaseTime`` added), seconds.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_codec import IntArray, Layout, layout_for
from loadkit.rundir.hlog_lines import (
    Inflated,
    InflatedLines,
    block_lines,
    inflate_block,
    inflate_range,
    parse_lines,
)
from loadkit.rundir.hlog_reader import MAX_ROW_LENGTH_S, MAX_ROW_TIME_S, decode_tag_or_none

__all__ = ["Chunk", "ChunkVarints", "HlogStream", "peek_start_time"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

BLOCK_BYTES = 1 << 20  # bytes of lines per chunk (~3,600 lines of a 20-endpoint run)
WORKER_BYTES = 16_000_000  # logs this large are decoded in worker processes (~25 min at 5,000/s)
COMPILED_BYTES = 16_000_000  # ... and by compiled loops (hdr_kernels: numba, ~0.4 s to load)


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
    varints: ChunkVarints | None = None  # compiled: the rows' streams instead of the entries


@dataclass
class ChunkVarints:
    """The varint streams of a chunk's rows, decoded by ``hdr_kernels.decode_scatter``."""

    data: npt.NDArray[np.uint8]
    start: IntArray  # of each row
    size: IntArray
    used: IntArray  # the bucket indices the rows use (sorted)


@dataclass
class HlogStream:
    """Chunks of one interval log, with what the reader reports about it."""

    path: Path
    start_time: float | None = None
    endpoints: list[str] = field(default_factory=list)  # in order of first appearance
    skipped_lines: int = 0
    unknown_tags: dict[str, int] = field(default_factory=dict)
    lowest: int | None = None  # precision of the kept histograms (from the first good one)
    significant_figures: int | None = None
    highest: int = 0  # the widest kept histogram
    bytes_read: int = 0
    workers: int | None = None  # decoding processes; None: by the log's size (_workers)
    out_of_range: int = 0  # lines skipped for a time or length no run can have
    lengths: dict[float, int] = field(default_factory=dict)  # interval length -> kept lines
    compiled: bool | None = None  # decode with hdr_kernels; None: by the log's size

    @property
    def median_length(self) -> float | None:
        """The median length of the kept intervals (as ``np.median`` of them all)."""
        if not self.lengths:
            return None
        values = sorted(self.lengths)
        counts = np.cumsum([self.lengths[v] for v in values])
        total = int(counts[-1])
        low = values[int(np.searchsorted(counts, (total - 1) // 2, side="right"))]
        high = values[int(np.searchsorted(counts, total // 2, side="right"))]
        return (low + high) / 2

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
        workers = _workers(self.path) if self.workers is None else self.workers
        if self.compiled is None:
            self.compiled = self.path.stat().st_size >= COMPILED_BYTES
        compiled = self.compiled
        pool = _pool(workers, compiled) if workers else None
        pending: deque[tuple[Future[Inflated] | Inflated, int]] = deque()
        try:
            path = str(self.path)
            with self.path.open("rb") as handle:
                state: tuple[float | None, float] = (None, 0.0)  # before the next block
                read = 0
                for block in _blocks(handle, BLOCK_BYTES):
                    job = (  # a worker reads the block again (cheaper than sending it)
                        pool.submit(inflate_range, path, read, len(block), *state, compiled)
                        if pool
                        else inflate_block(block, *state, compiled)
                    )
                    read += len(block)
                    pending.append((job, read))
                    state = _header_state(block, *state)
                    while pending and (pool is None or len(pending) > 2 * workers):
                        yield from self._take(pending.popleft(), code_of, tag_cache)
                while pending:
                    yield from self._take(pending.popleft(), code_of, tag_cache)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _take(
        self,
        item: tuple[Future[Inflated] | Inflated, int],
        code_of: dict[str, int],
        tag_cache: dict[str, tuple[int, bool] | None],
    ) -> Iterator[Chunk]:
        job, tell = item
        inflated = job.result() if isinstance(job, Future) else job
        start = inflated.lines.start_time
        self.start_time = start if start is not None and math.isfinite(start) else None
        self.skipped_lines += inflated.lines.skipped
        self.bytes_read = tell
        chunk = self._decode(inflated, code_of, tag_cache)
        if chunk is not None:
            yield chunk

    def _decode(
        self,
        inflated: Inflated,
        code_of: dict[str, int],
        tag_cache: dict[str, tuple[int, bool] | None],
    ) -> Chunk | None:
        headers = inflated.headers
        if headers is None:
            return None
        keys: list[tuple[int, bool] | None] = []
        for tag in inflated.tag_names:  # in order of first appearance
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
            keys.append(tag_cache[tag])
        lines_of_tag = np.bincount(inflated.tag_codes, minlength=len(keys))
        for tag, key, n in zip(inflated.tag_names, keys, lines_of_tag.tolist(), strict=True):
            if key is None:
                self.unknown_tags[tag] = self.unknown_tags.get(tag, 0) + n
        codes = inflated.tag_codes
        known = np.array([k is not None for k in keys], dtype=bool)[codes]
        usable = headers.valid & known
        times, lengths = inflated.times, inflated.lengths
        with np.errstate(invalid="ignore"):  # a time or length no run can have (the reader's)
            plausible = (
                np.isfinite(times)
                & np.isfinite(lengths)
                & (np.abs(times) <= MAX_ROW_TIME_S)
                & (lengths >= 0)
                & (lengths <= MAX_ROW_LENGTH_S)
            )
        out_of_range = int((usable & ~plausible).sum())
        self.out_of_range += out_of_range
        usable &= plausible
        if self.lowest is None and usable.any():
            first = int(np.argmax(usable))
            self.lowest = int(headers.lowest[first])
            self.significant_figures = int(headers.significant_figures[first])
        kept = usable & (headers.lowest == self.lowest)
        kept &= headers.significant_figures == self.significant_figures
        self.skipped_lines += int(known.sum() - kept.sum()) - out_of_range
        source = np.flatnonzero(kept)
        if len(source) == 0:
            return None
        self.highest = max(self.highest, int(headers.highest[source].max()))
        for length, n in zip(*np.unique(lengths[source], return_counts=True), strict=True):
            self.lengths[float(length)] = self.lengths.get(float(length), 0) + int(n)
        endpoint_of = np.array([k[0] if k else -1 for k in keys], dtype=np.int64)
        failed_of = np.array([k[1] if k else False for k in keys], dtype=bool)
        chunk = Chunk(
            t=times[source],
            length=lengths[source],
            endpoint=endpoint_of[codes[source]],
            failed=failed_of[codes[source]],
            total=inflated.line_total[source],
            entry_row=inflated.entry_line[:0],
            entry_index=inflated.entry_index[:0],
            entry_count=inflated.entry_count[:0],
        )
        if inflated.varints is not None:
            varints = inflated.varints
            chunk.varints = ChunkVarints(
                np.frombuffer(varints.data, dtype=np.uint8),
                varints.start[source],
                varints.size[source],
                varints.used[(cast(int, self.lowest), cast(int, self.significant_figures))],
            )
            return chunk
        # the entries of the kept lines (decoded: every valid line), renumbered
        new_row = np.full(len(kept), -1, dtype=np.int64)
        new_row[source] = np.arange(len(source))
        entries = new_row[inflated.entry_line]
        take = entries >= 0
        chunk.entry_row = entries[take]
        chunk.entry_index = inflated.entry_index[take]
        chunk.entry_count = inflated.entry_count[take]
        return chunk


def _blocks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """About ``size`` bytes at a time, each ending at the end of a line (or of the file).

    A block ends just after a ``\n``: a line boundary however its lines end
    (``\n``, ``\r\n`` or ``\r``), and never inside a UTF-8 character.
    """
    while block := handle.read(size):
        if not block.endswith(b"\n"):
            block += handle.readline()
        yield block


def _header_state(
    block: bytes, start_time: float | None, base_time: float
) -> tuple[float | None, float]:
    """(StartTime, BaseTime) after ``block``: what ``parse_lines`` would carry on with."""
    if b"#" not in block or not (
        block.startswith(b"#") or b"\n#" in block or b"\r#" in block
    ):  # "#" alone first: one fast scan of data lines (base64 and tags never hold one)
        return start_time, base_time
    lines = InflatedLines(start_time=start_time, base_time=base_time)
    parse_lines((line for line in block_lines(block) if line.startswith("#")), lines)
    return lines.start_time, lines.base_time


def _pool(workers: int, compiled: bool) -> ProcessPoolExecutor:
    """Worker processes for decoding (the line loop holds the GIL: threads would not overlap).

    Forked (Linux's default), not spawned: a spawned worker re-runs the caller's
    main script, and a script without a ``__main__`` guard would then start
    workers of its own. The compiled loops are loaded first, so that the
    workers inherit them instead of each loading them.
    """
    if compiled:
        from loadkit.rundir.hdr_kernels import warm_up

        warm_up()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def _workers(path: Path) -> int:
    """Decoding processes: none for a small log, else one per CPU (at most 4)."""
    if path.stat().st_size < WORKER_BYTES:
        return 0
    return max(1, min(4, os.cpu_count() or 1))


def peek_start_time(path: Path) -> float | None:
    """The ``#[StartTime: ...]`` of a log (from its header lines), or None."""
    if not path.exists():
        return None
    lines = InflatedLines()
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        parse_lines(handle, lines, 1)
    start = lines.start_time
    return start if start is not None and math.isfinite(start) else None
