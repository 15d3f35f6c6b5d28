"""Decode many HdrHistogram V2 histograms at once, vectorised with numpy.

Decoding ``.hlog`` lines one by one costs ~100 µs each, which is most of the
report time of a long run. Here each line is only unwrapped in Python (base64,
zlib, a 40-byte header: C calls), and the counts of *all* histograms are then
decoded together: the V2 payload is a ZigZag LEB128 varint stream where a
positive value is the count of the next bucket, 0 an empty bucket and ``-n`` a
run of ``n`` empty buckets. :func:`decode_batch` turns the concatenated
streams into (histogram, bucket index, count) triples of the non-empty buckets.
"""

from __future__ import annotations

import binascii
import struct
import zlib

import numpy as np

from loadkit.report.hdr import IntArray, Layout, layout_for

__all__ = ["decode_batch", "unwrap"]

_EXTERNAL_HEADER = struct.Struct(">II")
_PAYLOAD_HEADER = struct.Struct(">IIIIQQd")
_COMPRESSION_COOKIE_BASE = 0x1C849304
_ENCODING_COOKIE_BASE = 0x1C849303
_COOKIE_MASK = ~0xF0
_MAX_VARINT_BYTES = 8  # counts below 2**56; a 9-byte varint is rejected as corrupt


def unwrap(encoded: str) -> tuple[Layout, bytes]:
    """The layout and the raw varint stream of one ``HISTF…`` string (ValueError if bad)."""
    try:
        raw = binascii.a2b_base64(encoded)
        cookie, length = _EXTERNAL_HEADER.unpack_from(raw)
        if cookie & _COOKIE_MASK != _COMPRESSION_COOKIE_BASE:
            raise ValueError(f"not a compressed V2 histogram (cookie {cookie:#x})")
        if length != len(raw) - _EXTERNAL_HEADER.size:
            raise ValueError("histogram length does not match its header")
        payload = zlib.decompress(raw[_EXTERNAL_HEADER.size :])
        cookie, size, offset, sig, lowest, highest, _ = _PAYLOAD_HEADER.unpack_from(payload)
    except (binascii.Error, struct.error, zlib.error) as exc:
        raise ValueError(f"not a histogram: {exc}") from None
    if cookie & _COOKIE_MASK != _ENCODING_COOKIE_BASE:
        raise ValueError(f"bad payload cookie {cookie:#x}")
    if offset != 0 or not (1 <= sig <= 5 and lowest >= 1 and highest >= 2 * lowest):
        raise ValueError("histogram settings out of range")
    stream = payload[_PAYLOAD_HEADER.size : _PAYLOAD_HEADER.size + size]
    if len(stream) != size or (size and stream[-1] >= 0x80):
        raise ValueError("truncated histogram payload")
    return layout_for(int(lowest), int(highest), int(sig)), stream


def decode_batch(streams: list[bytes], counts_len: int) -> tuple[IntArray, IntArray, IntArray]:
    """(histogram number, bucket index, count) of every non-empty bucket of ``streams``."""
    empty = np.zeros(0, dtype=np.int64)
    data = np.frombuffer(b"".join(streams), dtype=np.uint8)
    if len(data) == 0:
        return empty, empty.copy(), empty.copy()
    stream_lengths = np.fromiter((len(s) for s in streams), dtype=np.int64, count=len(streams))
    terminal = data < 0x80
    ends = np.flatnonzero(terminal)  # the last byte of every varint
    # values per stream: terminal bytes up to each stream's end (streams end on one)
    values_before_end = np.cumsum(terminal, dtype=np.int64)[np.cumsum(stream_lengths) - 1]
    values_per_stream = np.diff(values_before_end, prepend=0)
    values_per_stream[stream_lengths == 0] = 0
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_VARINT_BYTES:
        raise ValueError("histogram count too large (corrupt varint)")
    # little-endian groups of 7 bits; most values are one byte, so add the longer ones' bytes
    unsigned = (data[starts] & 0x7F).astype(np.uint64)
    longer = np.flatnonzero(lengths > 1)
    for byte in range(1, int(lengths.max())):
        longer = longer[lengths[longer] > byte]
        unsigned[longer] |= (data[starts[longer] + byte] & 0x7F).astype(np.uint64) << np.uint64(
            7 * byte
        )
    values = (unsigned >> np.uint64(1)).astype(np.int64) ^ -(unsigned & np.uint64(1)).astype(
        np.int64
    )
    histogram = np.repeat(np.arange(len(streams), dtype=np.int32), values_per_stream)
    step = np.where(values < 0, -values, 1)
    position = np.cumsum(step) - step  # bucket index, before subtracting each histogram's start
    first_value = np.cumsum(values_per_stream) - values_per_stream
    index = position - np.repeat(
        position[np.minimum(first_value, len(position) - 1)], values_per_stream
    )
    keep = (values > 0) & (index < counts_len)
    return histogram[keep].astype(np.int32), index[keep].astype(np.int32), values[keep]
