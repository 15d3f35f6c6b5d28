"""Decode many HdrHistogram V2 histograms at once, vectorised with numpy.

Decoding ``.hlog`` lines one by one costs ~100 µs each, which would be most of
the report time of a long run. Here each line is only inflated in Python
(base64 and zlib: two C calls, see :func:`loadkit.rundir.hdr_codec.inflate`); the headers of *all*
histograms are then checked together (:func:`check_headers`) and their counts
decoded together (:func:`decode_payloads`). The V2 payload is a 40-byte header
and a ZigZag LEB128 varint stream where a positive value is the count of the
next bucket, 0 an empty bucket and ``-n`` a run of ``n`` empty buckets; the
decoder turns the concatenated streams into (histogram, bucket index, count)
triples of the non-empty buckets.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_codec import (
    COMPRESSION_COOKIE_BASE,
    COOKIE_MASK,
    ENCODING_COOKIE_BASE,
    HEADER_SIZE,
    MAX_SIGNIFICANT_FIGURES,
    IntArray,
    Layout,
    layout_for,
)

__all__ = [
    "Decoded",
    "Headers",
    "check_headers",
    "decode_batch",
    "decode_payloads",
    "decode_varints",
]

BoolArray = npt.NDArray[np.bool_]

_EXTERNAL_DTYPE = np.dtype([("cookie", ">u4"), ("length", ">u4")])
_PAYLOAD_DTYPE = np.dtype(
    [
        ("cookie", ">u4"),
        ("size", ">u4"),
        ("offset", ">u4"),
        ("sig", ">u4"),
        ("lowest", ">u8"),
        ("highest", ">u8"),
        ("ratio", ">f8"),
    ]
)
_MAX_VARINT_BYTES = 8  # counts below 2**56; a 9-byte varint is rejected as corrupt
_CHUNK_BYTES = 1_000_000  # payload bytes decoded at a time (bounds the temporaries)


@dataclass
class Headers:
    """The checked headers of many inflated histograms (parallel arrays)."""

    valid: BoolArray  # a well-formed V2 histogram
    size: IntArray  # varint bytes after the 40-byte payload header
    lowest: IntArray
    highest: IntArray
    significant_figures: IntArray

    def layout(self, row: int) -> Layout:
        return layout_for(
            int(self.lowest[row]), int(self.highest[row]), int(self.significant_figures[row])
        )


def check_headers(
    externals: list[bytes], compressed_lengths: list[int], payloads: list[bytes]
) -> Headers:
    """Check every histogram's headers at once, like ``hdr_codec.unwrap`` checks one.

    ``externals`` and ``compressed_lengths`` come from ``hdr_codec.inflate``; every
    payload must be at least :data:`HEADER_SIZE` bytes long (the caller skips
    shorter ones).
    """
    n = len(payloads)
    external = np.frombuffer(b"".join(externals), dtype=_EXTERNAL_DTYPE, count=n)
    head = np.frombuffer(b"".join([p[:HEADER_SIZE] for p in payloads]), dtype=_PAYLOAD_DTYPE)
    size = head["size"].astype(np.int64)
    sig = head["sig"].astype(np.int64)
    lowest = head["lowest"].astype(np.uint64)
    highest = head["highest"].astype(np.uint64)
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=n)
    valid = (
        (external["cookie"] & COOKIE_MASK == COMPRESSION_COOKIE_BASE)
        & (external["length"].astype(np.int64) == np.asarray(compressed_lengths, np.int64))
        & (head["cookie"] & COOKIE_MASK == ENCODING_COOKIE_BASE)
        & (head["offset"] == 0)
        & (sig >= 1)
        & (sig <= MAX_SIGNIFICANT_FIGURES)
        & (lowest >= 1)
        & (lowest < np.uint64(1 << 62))
        & (highest < np.uint64(1 << 63))
        & (highest >= 2 * lowest)
        & (lengths >= HEADER_SIZE + size)
    )
    # a stream must end on a varint's last byte (else it is truncated)
    ends_ok = [
        p[HEADER_SIZE + s - 1] < 0x80 if s else True
        for p, s in zip(payloads, np.where(valid, size, 0).tolist(), strict=True)
    ]
    valid &= np.asarray(ends_ok, dtype=bool)
    return Headers(valid, size, lowest.astype(np.int64), highest.astype(np.int64), sig)


@dataclass
class Decoded:
    """The non-empty buckets of many histograms, in histogram then bucket order."""

    row: IntArray  # int32: the histogram of each entry
    index: IntArray  # int32 bucket index
    count: IntArray  # int32 (int64 only if some bucket holds 2**31 or more)
    row_total: IntArray  # int64: the total count of each histogram


def decode_payloads(payloads: list[bytes], sizes: IntArray, counts_len: int) -> Decoded:
    """Decode checked payloads: a 40-byte header then ``sizes[k]`` varint bytes each.

    Anything after the varints is ignored. Decoded a bounded chunk at a time
    straight into the result arrays (fresh memory is costly: temporaries stay
    small and get reused); ``payloads`` is emptied as it goes.
    """
    n = len(payloads)
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=n)
    ends = np.cumsum(lengths)
    # every kept bucket takes at least one varint byte: the total bounds the entries
    capacity = int(sizes.sum())
    row, index = np.empty(capacity, np.int32), np.empty(capacity, np.int32)
    count: IntArray = np.empty(capacity, np.int32)
    row_total = np.zeros(n, dtype=np.int64)
    bounds = np.searchsorted(ends, np.arange(_CHUNK_BYTES, int(ends[-1]) if n else 0, _CHUNK_BYTES))
    edges = [0, *sorted({min(int(b) + 1, n) for b in bounds}), n]
    filled = 0
    for first, last in itertools.pairwise(edges):
        if first >= last:
            continue
        chunk_sizes = sizes[first:last]
        streams = [
            p[HEADER_SIZE : HEADER_SIZE + size]
            for p, size in zip(payloads[first:last], chunk_sizes.tolist(), strict=True)
        ]
        payloads[first:last] = [b""] * (last - first)
        data = np.frombuffer(b"".join(streams), dtype=np.uint8)
        del streams
        rows, chunk_index, chunk_count = decode_varints(data, chunk_sizes, counts_len)
        end = filled + len(rows)
        if len(chunk_count) and int(chunk_count.max()) > np.iinfo(count.dtype).max:
            count = count.astype(np.int64)
        row[filled:end], index[filled:end], count[filled:end] = rows, chunk_index, chunk_count
        row[filled:end] += first
        row_total[first:last] = np.bincount(rows, weights=chunk_count, minlength=last - first)
        filled = end
    return Decoded(row[:filled], index[:filled], count[:filled], row_total)


def decode_batch(streams: list[bytes], counts_len: int) -> tuple[IntArray, IntArray, IntArray]:
    """(histogram number, bucket index, count) of every non-empty bucket of ``streams``."""
    data = np.frombuffer(b"".join(streams), dtype=np.uint8)
    lengths = np.fromiter((len(s) for s in streams), dtype=np.int64, count=len(streams))
    return decode_varints(data, lengths, counts_len)


def decode_varints(
    data: npt.NDArray[np.uint8], stream_lengths: IntArray, counts_len: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Decode concatenated varint streams (each ending on a varint's last byte).

    Returns int32 (stream number, bucket index) and int64 counts of the
    non-empty buckets, in stream then bucket order.
    """
    empty = np.zeros(0, dtype=np.int32)
    if len(data) == 0:
        return empty, empty.copy(), empty.astype(np.int64)
    ends = np.flatnonzero(data < 0x80)  # the last byte of every varint
    last_bytes = data[ends]
    # most varints are one byte: read them through tables, then redo the few longer ones
    values = _ZIGZAG[last_bytes]
    step = _STEP[last_bytes]  # buckets each value advances: 1, or n for a run of n zeros
    del last_bytes
    if len(ends) < len(data):
        follows_continuation = np.empty(len(data), dtype=bool)
        follows_continuation[0] = False
        np.greater_equal(data[:-1], 0x80, out=follows_continuation[1:])
        longer = np.flatnonzero(follows_continuation[ends])
        del follows_continuation
        starts = np.where(longer > 0, ends[longer - 1] + 1, 0)
        lengths = ends[longer] - starts + 1
        longest = int(lengths.max())
        if longest > _MAX_VARINT_BYTES:
            raise ValueError("histogram count too large (corrupt varint)")
        unsigned = (data[starts] & 0x7F).astype(np.int64)
        for byte in range(1, longest):  # little-endian groups of 7 bits
            more = lengths > byte
            unsigned[more] |= (data[starts[more] + byte] & 0x7F).astype(np.int64) << (7 * byte)
        longer_values = (unsigned >> 1) ^ -(unsigned & 1)  # ZigZag
        values[longer] = longer_values
        # a run past the last bucket only has to stay past it: clipping keeps sums small
        step[longer] = np.where(longer_values < 0, np.minimum(-longer_values, counts_len), 1)
    # values per stream: varints ending up to each stream's last byte
    values_before_end = np.searchsorted(ends, np.cumsum(stream_lengths) - 1, side="right")
    values_per_stream = np.diff(values_before_end, prepend=0)
    # bucket index: position of each value, restarted in every stream
    position = np.cumsum(step)
    position -= step
    del step
    stream = np.repeat(np.arange(len(stream_lengths), dtype=np.int32), values_per_stream)
    first_value = np.minimum(values_before_end - values_per_stream, len(values) - 1)
    kept = np.flatnonzero(values > 0)
    stream = stream[kept]
    index = position[kept] - position[first_value][stream]
    count = values[kept]
    inside = index < counts_len
    if not inside.all():
        stream, index, count = stream[inside], index[inside], count[inside]
    return stream, index.astype(np.int32), count


def _byte_tables() -> tuple[IntArray, IntArray]:
    """ZigZag value and bucket step of every one-byte varint (bytes >= 0x80 are unused)."""
    byte = np.arange(256, dtype=np.int64) & 0x7F
    value = (byte >> 1) ^ -(byte & 1)
    return value, np.where(value < 0, -value, 1)


_ZIGZAG, _STEP = _byte_tables()
