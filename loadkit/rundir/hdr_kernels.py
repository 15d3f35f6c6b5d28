"""Compiled loops for large interval logs: decode varint streams, add counts into sums.

The numpy forms (:func:`loadkit.rundir.hdr_batch.decode_varints`,
:func:`loadkit.report.rollup.scatter_add`) make a dozen passes over every
byte and every bucket; on a 24-hour log (3.3 M histograms, 400 M non-empty
buckets) that is most of the report's time. These are the same loops written
once, compiled by numba (cached on disk after the first run) and run without
the GIL. Importing this module imports numba (~0.2 s), so only large logs use
it (:data:`loadkit.rundir.hlog_stream.FAST_BYTES`); tests check both forms
give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numba  # type: ignore[import-untyped,unused-ignore]
import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_codec import IntArray

__all__ = ["decode_streams", "scatter_add"]

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
        position = 0
        total = 0
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
def _scatter(  # pragma: no cover - compiled; run (and compared) by the tests
    target: Any, offsets: Any, entry_row: Any, column: Any, counts: Any
) -> None:
    for e in range(len(entry_row)):
        base = offsets[entry_row[e]]
        if base >= 0:
            target[base + column[e]] += counts[e]


def scatter_add(
    target: FloatArray, offsets: IntArray, entry_row: IntArray, column: IntArray, counts: IntArray
) -> None:
    """``target.flat[offsets[entry_row[e]] + column[e]] += counts[e]`` for every entry whose
    histogram's offset is not negative (see ``loadkit.report.rollup.scatter_add``)."""
    if not target.flags.c_contiguous:
        raise ValueError("scatter_add needs a C-contiguous target")
    _scatter(
        target.reshape(-1),
        np.asarray(offsets, np.int64),
        entry_row,
        column,
        counts,
    )
