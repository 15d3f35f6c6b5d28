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

import base64
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
        raw = base64.b64decode(encoded)
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
    stream_starts = np.concatenate(([0], np.cumsum(stream_lengths)[:-1]))
    ends = np.flatnonzero(data < 0x80)  # the last byte of every varint
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
    histogram = np.searchsorted(stream_starts, starts, side="right") - 1
    step = np.where(values < 0, -values, 1)
    position = np.cumsum(step) - step  # bucket index, before subtracting each histogram's start
    first_value = np.searchsorted(histogram, np.arange(len(streams)))
    first_value = np.minimum(first_value, len(position) - 1)
    index = position - position[first_value][histogram]
    keep = (values > 0) & (index < counts_len)
    return histogram[keep].astype(np.int32), index[keep].astype(np.int32), values[keep]
