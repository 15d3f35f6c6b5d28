"""Parse the data lines of ``latency.hlog``: inflate them, check and decode a batch.

:func:`parse_lines` reads lines into :class:`InflatedLines` (base64 and zlib
only; torn or malformed lines are skipped and counted); :func:`inflate_block`
does the whole of one block of lines, headers checked and counts decoded, the
part a large log runs in worker processes (:mod:`loadkit.rundir.hlog_stream`).
Kept free of pandas so that a worker starts quickly.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_batch import Headers, check_headers, decode_payloads
from loadkit.rundir.hdr_codec import HEADER_SIZE, IntArray, inflate, layout_for

__all__ = [
    "Inflated",
    "InflatedLines",
    "Varints",
    "block_lines",
    "inflate_block",
    "inflate_range",
    "parse_lines",
]

FloatArray = npt.NDArray[np.float64]

_START_TIME = re.compile(r"#\[StartTime:\s*([0-9.eE+-]+)")
_BASE_TIME = re.compile(r"#\[BaseTime:\s*([0-9.eE+-]+)")
_WIDEST = 1 << 62  # decode with the widest layout; the final layout is the widest seen


@dataclass
class InflatedLines:
    """The well-formed data lines of a log, inflated but not yet decoded."""

    times: list[float] = field(default_factory=list)
    lengths: list[float] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    externals: list[bytes] = field(default_factory=list)
    compressed_lengths: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    start_time: float | None = None
    base_time: float = 0.0
    skipped: int = 0


def parse_lines(handle: Iterable[str], lines: InflatedLines, limit: int | None = None) -> bool:
    """Inflate the next data lines of ``handle`` into ``lines`` (at most ``limit``).

    ``lines.base_time`` and ``lines.start_time`` carry the header state from one
    call to the next. Returns whether the file has more lines.
    """
    times, lengths, tags = lines.times, lines.lengths, lines.tags
    externals, compressed, payloads = lines.externals, lines.compressed_lengths, lines.payloads
    taken = 0
    for line in handle:
        if line[0] in '#"' or line.isspace():
            if line.startswith("#"):
                if match := _START_TIME.match(line):
                    lines.start_time = _number(match.group(1))
                elif match := _BASE_TIME.match(line):
                    lines.base_time = _number(match.group(1)) or 0.0
            continue
        fields = line.split(",")  # [Tag=tag,]start,length,max,HISTF...
        tagged = fields[0].startswith("Tag=")
        try:
            if len(fields) != 4 + tagged:
                raise ValueError("wrong number of fields")
            t, length = float(fields[tagged]), float(fields[1 + tagged])
            external, compressed_length, payload = inflate(fields[3 + tagged])
            if len(payload) < HEADER_SIZE:
                raise ValueError("histogram payload too short")
        except (ValueError, zlib.error):  # a torn or garbled line
            lines.skipped += 1
            continue
        times.append(t + lines.base_time)
        lengths.append(length)
        tags.append(fields[0][4:] if tagged else "")
        externals.append(external)
        compressed.append(compressed_length)
        payloads.append(payload)
        taken += 1
        if limit is not None and taken >= limit:
            return True
    return False


def _number(text: str) -> float | None:
    """A header's number (None when it is not one, e.g. a header cut in the middle)."""
    try:
        return float(text)
    except ValueError:
        return None


@dataclass
class Varints:
    """The varint streams of a batch's valid lines, for the compiled decoder (no bucket list)."""

    data: bytes  # the payloads of the valid lines, concatenated
    start: IntArray  # per line: where its varints start in ``data`` (0 for an invalid line)
    size: IntArray  # per line: how many bytes (0 for an invalid line)
    used: dict[tuple[int, int], IntArray]  # per precision (lowest, figures): bucket indices used


@dataclass
class Inflated:
    """A block of lines parsed, inflated and decoded (what a worker process sends back)."""

    lines: InflatedLines  # skipped lines and header state (the per-line lists emptied)
    headers: Headers | None
    entry_line: IntArray  # int32: the line (in ``lines``) of each non-empty bucket
    entry_index: IntArray  # int32
    entry_count: IntArray  # int32, or int64 if some bucket holds 2**31 or more
    line_total: IntArray  # the count of each line (0 for an invalid one)
    varints: Varints | None = None  # compiled: the streams instead of the buckets (none listed)
    times: FloatArray = field(default_factory=lambda: np.zeros(0))  # of each line
    lengths: FloatArray = field(default_factory=lambda: np.zeros(0))
    tag_names: list[str] = field(default_factory=list)  # in order of first appearance
    tag_codes: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))


def block_lines(block: bytes) -> io.StringIO:
    """The lines of a block of the file, as a text file opened with ``errors="replace"``
    and universal newlines reads them."""
    return io.StringIO(block.decode("utf-8", errors="replace"), newline=None)


def inflate_block(
    block: bytes, start_time: float | None, base_time: float, compiled: bool = False
) -> Inflated:
    """Parse and decode a block of lines. ``compiled``: decoded with ``hdr_kernels`` to check
    the streams and count them, then sent back as :class:`Varints` (a third of the bytes of
    the bucket list) for :func:`loadkit.rundir.hdr_kernels.decode_scatter`."""
    lines = InflatedLines(start_time=start_time, base_time=base_time)
    parse_lines(block_lines(block), lines)
    empty = np.zeros(0, dtype=np.int64)
    if not lines.payloads:
        return Inflated(lines, None, empty, empty, empty, empty)
    headers = check_headers(lines.externals, lines.compressed_lengths, lines.payloads)
    first: dict[str, int] = {}
    codes = [first.setdefault(tag, len(first)) for tag in lines.tags]
    per_line = {
        "times": np.asarray(lines.times, dtype=np.float64),
        "lengths": np.asarray(lines.lengths, dtype=np.float64),
        "tag_names": list(first),
        "tag_codes": np.asarray(codes, dtype=np.int32),
    }
    lines.times, lines.lengths, lines.tags = [], [], []
    inflated = _inflate_compiled(lines, headers) if compiled else _inflate(lines, headers)
    for name, value in per_line.items():
        setattr(inflated, name, value)
    return inflated


def inflate_range(
    path: str,
    offset: int,
    size: int,
    start_time: float | None,
    base_time: float,
    compiled: bool = False,
) -> Inflated:
    """:func:`inflate_block` of the ``size`` bytes of ``path`` from ``offset`` (a worker's)."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        block = handle.read(size)
    return inflate_block(block, start_time, base_time, compiled)


def _inflate(lines: InflatedLines, headers: Headers) -> Inflated:
    empty = np.zeros(0, dtype=np.int64)
    rows, index, count = [], [], []
    total = np.zeros(len(lines.payloads), dtype=np.int64)
    # one decode per precision (a log has one; the caller keeps the lines of the first)
    valid = headers.valid
    lowest_of, figures_of = headers.lowest[valid].tolist(), headers.significant_figures[valid]
    precisions = set(zip(lowest_of, figures_of.tolist(), strict=True))
    for lowest, figures in sorted(precisions):
        lines_of = np.flatnonzero(
            headers.valid & (headers.lowest == lowest) & (headers.significant_figures == figures)
        )
        widest = layout_for(lowest, _WIDEST, figures)
        payloads = [lines.payloads[k] for k in lines_of.tolist()]
        decoded = decode_payloads(payloads, headers.size[lines_of], widest.counts_len)
        rows.append(lines_of[decoded.row].astype(np.int32))
        index.append(decoded.index.astype(np.int32, copy=False))
        count.append(decoded.count)
        total[lines_of] = decoded.row_total
    lines.payloads.clear()
    lines.externals.clear()
    counts = np.concatenate([empty, *count])
    if len(counts) and int(counts.max()) <= np.iinfo(np.int32).max:
        counts = counts.astype(np.int32)  # half the bytes a worker process sends back
    return Inflated(
        lines,
        headers,
        np.concatenate([empty.astype(np.int32), *rows]),
        np.concatenate([empty.astype(np.int32), *index]),
        counts,
        total,
    )


def _inflate_compiled(lines: InflatedLines, headers: Headers) -> Inflated:
    from loadkit.rundir.hdr_kernels import survey_streams  # imports numba: large logs only

    valid = headers.valid
    payloads = lines.payloads
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=len(payloads))
    lengths[~valid] = 0
    start = np.cumsum(lengths) - lengths + HEADER_SIZE
    size = np.where(valid, headers.size, 0)
    start[~valid] = 0
    data = b"".join([p for p, ok in zip(payloads, valid.tolist(), strict=True) if ok])
    lines.payloads.clear()
    lines.externals.clear()
    array = np.frombuffer(data, dtype=np.uint8)
    total = np.zeros(len(valid), dtype=np.int64)
    used: dict[tuple[int, int], IntArray] = {}
    lowest_of, figures_of = headers.lowest[valid].tolist(), headers.significant_figures[valid]
    for lowest, figures in sorted(set(zip(lowest_of, figures_of.tolist(), strict=True))):
        lines_of = np.flatnonzero(
            valid & (headers.lowest == lowest) & (headers.significant_figures == figures)
        )
        counts_len = layout_for(lowest, _WIDEST, figures).counts_len
        used[(lowest, figures)], total[lines_of] = survey_streams(
            array, start[lines_of], size[lines_of], counts_len
        )
    empty = np.zeros(0, dtype=np.int32)
    return Inflated(lines, headers, empty, empty, empty, total, Varints(data, start, size, used))
