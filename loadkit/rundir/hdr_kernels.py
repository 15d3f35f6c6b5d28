"""Compiled loops for large interval logs: decode varint streams, add counts into sums.

The numpy forms (:func:`loadkit.rundir.hdr_batch.decode_varints`, then
:func:`loadkit.report.rollup.scatter_add` into each sum) make a dozen passes
over every byte and every bucket; on a 24-hour log (3.3 M histograms, 400 M
non-empty buckets) that was most of the report's time. Here the same loops are
written once and compiled by numba (cached on disk after the first run). The
three loops repeat their varint reading on purpose: a shared reader (inlined)
made the two the report uses about 5% slower, a shared walker over a list of
buckets 10-20% (``bench/hdr_kernels.py``, bench/README.md).
:func:`survey_streams` checks and counts a block in a worker process,
:func:`decode_scatter` decodes it again straight into every sum it belongs to,
without a list of buckets in between. Importing this module imports numba
(~0.2 s CPU), so only large logs use it
(:data:`loadkit.rundir.hlog_stream.COMPILED_BYTES`); tests check that both
forms give the same numbers, and the same as ``hdrh``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_codec import IntArray

__all__ = ["decode_scatter", "decode_streams", "survey_streams", "warm_up"]

FloatArray = npt.NDArray[np.float64]
ByteArray = npt.NDArray[np.uint8]

MAX_VARINT_BYTES = 8  # counts below 2**56 (as hdr_batch): a longer varint is corrupt


def _jit(function: Callable[..., Any]) -> Callable[..., Any]:
    return cast(Callable[..., Any], numba.njit(cache=True, nogil=True)(function))


@_jit
def _decode(  # pragma: no cover - compiled; run (and compared) by the tests
    data: Any,
    starts: Any,
    sizes: Any,
    counts_len: int,
    out_row: Any,
    out_index: Any,
    out_count: Any,
    row_total: Any,
) -> int:
    filled = 0
    for k in range(len(starts)):
        p = starts[k]
        end = p + sizes[k]
        position: Any = 0
        total: Any = 0
        while p < end:
            byte = np.int64(data[p])
            p += 1
            unsigned = byte & 0x7F
            shift = 7
            while byte >= 0x80:  # little-endian groups of 7 bits
                if shift >= 7 * MAX_VARINT_BYTES or p >= end:
                    return -1
                byte = np.int64(data[p])
                p += 1
                unsigned |= (byte & 0x7F) << shift
                shift += 7
            value = (unsigned >> 1) ^ -(unsigned & 1)  # ZigZag
            if value < 0:  # a run of -value empty buckets
                position = min(position - value, counts_len)
            else:
                if value > 0 and position < counts_len:
                    out_row[filled] = k
                    out_index[filled] = position
                    out_count[filled] = value
                    filled += 1
                    total += value
                position += 1
        row_total[k] = total
    return filled


def decode_streams(
    data: ByteArray, starts: IntArray, sizes: IntArray, counts_len: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Decode the varint streams ``data[starts[k] : starts[k] + sizes[k]]``.

    Returns (stream number int32, bucket index int32, count int64) of every
    non-empty bucket below ``counts_len``, in stream then bucket order, and the
    total count of each stream: what ``hdr_batch.decode_varints`` gives (its
    totals summed exactly). ``ValueError`` on a varint longer than 8 bytes or
    one cut by the end of its stream.
    """
    n = len(starts)
    capacity = int(np.sum(sizes))  # every non-empty bucket takes at least one byte
    row, index = np.empty(capacity, np.int32), np.empty(capacity, np.int32)
    count, total = np.empty(capacity, np.int64), np.zeros(n, np.int64)
    filled = int(
        _decode(
            data,
            np.asarray(starts, np.int64),
            np.asarray(sizes, np.int64),
            int(counts_len),
            row,
            index,
            count,
            total,
        )
    )
    if filled < 0:
        raise ValueError("histogram count too large (corrupt varint)")
    return row[:filled], index[:filled], count[:filled], total


@_jit
def _survey(  # pragma: no cover - compiled; run (and compared) by the tests
    data: Any, starts: Any, sizes: Any, counts_len: int, seen: Any, row_total: Any
) -> int:
    for k in range(len(starts)):
        p = starts[k]
        end = p + sizes[k]
        position: Any = 0
        total: Any = 0
        while p < end:
            byte = np.int64(data[p])
            p += 1
            unsigned = byte & 0x7F
            shift = 7
            while byte >= 0x80:
                if shift >= 7 * MAX_VARINT_BYTES or p >= end:
                    return -1
                byte = np.int64(data[p])
                p += 1
                unsigned |= (byte & 0x7F) << shift
                shift += 7
            value = (unsigned >> 1) ^ -(unsigned & 1)
            if value < 0:
                position = min(position - value, counts_len)
            else:
                if value > 0 and position < counts_len:
                    seen[position] = True
                    total += value
                position += 1
        row_total[k] = total
    return 0


def survey_streams(
    data: ByteArray, starts: IntArray, sizes: IntArray, counts_len: int
) -> tuple[IntArray, IntArray]:
    """(the bucket indices used, sorted; the total count of each stream) of the streams
    :func:`decode_streams` would decode, without listing their buckets."""
    seen = np.zeros(counts_len, dtype=np.bool_)
    total = np.zeros(len(starts), np.int64)
    status = _survey(
        data,
        np.asarray(starts, np.int64),
        np.asarray(sizes, np.int64),
        int(counts_len),
        seen,
        total,
    )
    if status < 0:
        raise ValueError("histogram count too large (corrupt varint)")
    return np.flatnonzero(seen), total


@_jit
def _decode_scatter(  # pragma: no cover - compiled; run (and compared) by the tests
    data: Any,
    starts: Any,
    sizes: Any,
    counts_len: int,
    tables: Any,
    targets: Any,
    offsets: Any,
) -> int:
    n_targets = len(targets)
    for k in range(len(starts)):
        p = starts[k]
        end = p + sizes[k]
        position: Any = 0
        while p < end:
            byte = np.int64(data[p])
            p += 1
            unsigned = byte & 0x7F
            shift = 7
            while byte >= 0x80:
                if shift >= 7 * MAX_VARINT_BYTES or p >= end:
                    return -1
                byte = np.int64(data[p])
                p += 1
                unsigned |= (byte & 0x7F) << shift
                shift += 7
            value = (unsigned >> 1) ^ -(unsigned & 1)
            if value < 0:
                position = min(position - value, counts_len)
            else:
                if value > 0 and position < counts_len:
                    for j in range(n_targets):
                        base = offsets[j][k]
                        if base >= 0:
                            targets[j][base + tables[j][position]] += value
                position += 1
    return 0


def decode_scatter(
    data: ByteArray,
    starts: IntArray,
    sizes: IntArray,
    counts_len: int,
    sums: list[tuple[FloatArray, IntArray, IntArray]],
) -> None:
    """Decode varint streams (as :func:`decode_streams`) straight into sums, no bucket list.

    ``sums`` holds, per target, (its C-contiguous float array, the offset of each
    stream's row in it or -1 to leave the stream out, the column of each bucket
    index): every non-empty bucket ``i`` of stream ``k`` adds its count to
    ``target.flat[offset[k] + column[i]]`` (``scatter_add`` of the decoded buckets).
    """
    if not sums:
        return
    for target, _, _ in sums:
        if not target.flags.c_contiguous:
            raise ValueError("decode_scatter needs C-contiguous targets")
    status = _decode_scatter(
        data,
        np.asarray(starts, np.int64),
        np.asarray(sizes, np.int64),
        int(counts_len),
        tuple(np.asarray(table, np.int64) for _, _, table in sums),
        tuple(target.reshape(-1) for target, _, _ in sums),
        tuple(np.asarray(offset, np.int64) for _, offset, _ in sums),
    )
    if status < 0:
        raise ValueError("histogram count too large (corrupt varint)")


def warm_up() -> None:
    """Load (or compile) :func:`survey_streams`'s loop now, e.g. before forking workers."""
    empty = np.zeros(0, dtype=np.int64)
    survey_streams(np.zeros(0, dtype=np.uint8), empty, empty, 1)
