"""The HdrHistogram V2 wire format of ``.hlog`` lines: bucket layout, encode, decode one.

A histogram is handled as its sparse counts: the indices of its non-empty
buckets and their counts, in the standard HdrHistogram bucket layout
(:class:`Layout`). :func:`decode_sparse` and :func:`encode_counts` read and
write the standard V2 compressed encoding (the ``HISTF…`` strings) through
``pyhdrh``, the C extension the ``hdrhistogram`` package uses;
:func:`inflate` and :func:`unwrap` are the first steps of decoding many at once
(:mod:`loadkit.rundir.hdr_batch`). Merging and percentiles are the reporter's
(:mod:`loadkit.report.hdr`).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyhdrh  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "COMPRESSION_COOKIE_BASE",
    "COOKIE_MASK",
    "ENCODING_COOKIE_BASE",
    "EXTERNAL_HEADER",
    "HEADER_SIZE",
    "PAYLOAD_HEADER",
    "FloatArray",
    "IntArray",
    "Layout",
    "decode_sparse",
    "encode_counts",
    "inflate",
    "layout_for",
    "unwrap",
]

IntArray = npt.NDArray[np.signedinteger[Any]]
FloatArray = npt.NDArray[np.float64]

EXTERNAL_HEADER = struct.Struct(">II")  # cookie, compressed length
PAYLOAD_HEADER = struct.Struct(">IIIIQQd")  # cookie, len, offset, sig, lo, hi, ratio
HEADER_SIZE = PAYLOAD_HEADER.size  # 40
COMPRESSION_COOKIE_BASE = 0x1C849304
ENCODING_COOKIE_BASE = 0x1C849303
COOKIE_MASK = 0xFFFFFF0F  # ~0xF0 on 32 bits: the low nibble's flags are not compared
COMPRESSION_COOKIE = COMPRESSION_COOKIE_BASE | 0x10
ENCODING_COOKIE = ENCODING_COOKIE_BASE | 0x10
WORD_SIZE = 8
# An inflated payload is at most 40 + 9 bytes per bucket: 1 MB holds any 3-digit histogram
# (loadkit's); more is garbage or a zip bomb, never allocated.
MAX_PAYLOAD_BYTES = 1 << 20
# loadkit writes 3 significant digits; the report sizes its arrays by a histogram's
# precision (5 digits over the widest range is ~6 M buckets per array), so a line
# claiming more is refused as damage rather than allocated.
MAX_SIGNIFICANT_FIGURES = 3


@dataclass(frozen=True)
class Layout:
    """The bucket layout of histograms with the same lowest value and precision."""

    lowest: int = 1
    highest: int = 3_600_000_000
    significant_figures: int = 3

    @cached_property
    def unit_magnitude(self) -> int:
        return math.floor(math.log2(self.lowest))

    @cached_property
    def half_count_magnitude(self) -> int:
        magnitude = math.ceil(math.log2(2 * 10**self.significant_figures))
        return max(magnitude - 1, 0)

    @cached_property
    def counts_len(self) -> int:
        sub_bucket_count = 1 << (self.half_count_magnitude + 1)
        smallest_untrackable = sub_bucket_count << self.unit_magnitude
        buckets = 1
        while smallest_untrackable <= self.highest:
            if smallest_untrackable > (1 << 62):
                buckets += 1
                break
            smallest_untrackable <<= 1
            buckets += 1
        return (buckets + 1) * (sub_bucket_count // 2)

    @cached_property
    def _sub_bucket_and_shift(self) -> tuple[IntArray, IntArray]:
        index = np.arange(self.counts_len, dtype=np.int64)
        half = 1 << self.half_count_magnitude
        bucket = (index >> self.half_count_magnitude) - 1
        sub_bucket = (index & (half - 1)) + half
        first = bucket < 0
        sub_bucket[first] -= half
        bucket[first] = 0
        return sub_bucket, bucket + self.unit_magnitude

    @cached_property
    def lowest_equivalent(self) -> IntArray:
        """Per bucket index, the lowest value it holds (µs): HdrHistogram's min."""
        sub_bucket, shift = self._sub_bucket_and_shift
        return sub_bucket << shift

    @cached_property
    def highest_equivalent(self) -> IntArray:
        """Per bucket index, the value HdrHistogram reports for it (µs)."""
        _, shift = self._sub_bucket_and_shift
        return self.lowest_equivalent + (np.int64(1) << shift) - 1

    def index_of(self, values: npt.ArrayLike) -> IntArray:
        """The bucket index of each value (vectorised ``_counts_index_for``)."""
        v = np.maximum(np.asarray(values, dtype=np.int64), 0)
        mask = ((1 << (self.half_count_magnitude + 1)) - 1) << self.unit_magnitude
        _, bit_length = np.frexp((v | mask).astype(np.float64))
        bucket = bit_length.astype(np.int64) - self.unit_magnitude - (self.half_count_magnitude + 1)
        sub_bucket = v >> (bucket + self.unit_magnitude)
        half = 1 << self.half_count_magnitude
        index = ((bucket + 1) << self.half_count_magnitude) + (sub_bucket - half)
        return np.minimum(index, self.counts_len - 1)


@lru_cache(maxsize=16)
def layout_for(lowest: int, highest: int, significant_figures: int) -> Layout:
    """One shared :class:`Layout` per settings (its tables are computed once)."""
    return Layout(lowest, highest, significant_figures)


class _Scratch:
    """A reusable zeroed counts buffer for decoding (one per counts length)."""

    def __init__(self) -> None:
        self.buffers: dict[int, npt.NDArray[np.uint64]] = {}

    def get(self, counts_len: int) -> npt.NDArray[np.uint64]:
        buffer = self.buffers.get(counts_len)
        if buffer is None:
            buffer = np.zeros(counts_len, dtype=np.uint64)
            self.buffers[counts_len] = buffer
        return buffer


_scratch = _Scratch()


def decode_sparse(encoded: str | bytes) -> tuple[Layout, IntArray, IntArray]:
    """Decode one ``HISTF…`` string into (layout, bucket indices, counts).

    Raises ``ValueError`` on anything that is not a valid V2 histogram.
    """
    layout, stream = unwrap(encoded)
    buffer = _scratch.get(layout.counts_len)
    found = pyhdrh.decode(stream, 0, buffer.ctypes.data, layout.counts_len, WORD_SIZE)
    if not found["total"]:
        return layout, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(found["min_nonzero_index"]), int(found["max_nonzero_index"]) + 1
    window = buffer[low:high]
    index = np.flatnonzero(window)
    counts = window[index].astype(np.int64)
    window[index] = 0
    return layout, index + low, counts


def encode_counts(layout: Layout, index: IntArray, counts: IntArray) -> str:
    """Encode sparse counts as a standard V2 compressed, base64 histogram."""
    dense = np.zeros(layout.counts_len, dtype=np.uint64)
    np.add.at(dense, index, counts.astype(np.uint64))
    relevant = int(index.max()) + 1 if len(index) else 0
    varint_room = relevant * (WORD_SIZE + 1) + 16
    out = np.zeros(PAYLOAD_HEADER.size + varint_room, dtype=np.uint8)
    used = pyhdrh.encode(
        dense.ctypes.data, relevant, WORD_SIZE, out.ctypes.data + PAYLOAD_HEADER.size, varint_room
    )
    header = PAYLOAD_HEADER.pack(
        ENCODING_COOKIE, used, 0, layout.significant_figures, layout.lowest, layout.highest, 1.0
    )
    body = zlib.compress(header + out[PAYLOAD_HEADER.size : PAYLOAD_HEADER.size + used].tobytes())
    wrapped = EXTERNAL_HEADER.pack(COMPRESSION_COOKIE, len(body)) + body
    return base64.b64encode(wrapped).decode("ascii")


def inflate(encoded: str) -> tuple[bytes, int, bytes]:
    """(external 8-byte header, its length field's expected value, payload) of a ``HISTF…``.

    Only base64 and zlib (two C calls): raises ``ValueError`` (binascii.Error)
    or ``zlib.error`` on garbage; the headers are checked later, for all lines
    at once, by :func:`check_headers`.
    """
    raw = binascii.a2b_base64(encoded)
    size = EXTERNAL_HEADER.size
    inflater = zlib.decompressobj()
    payload = inflater.decompress(raw[size:], MAX_PAYLOAD_BYTES)
    if inflater.unconsumed_tail:  # larger than any histogram: garbage or a zip bomb
        raise ValueError("histogram payload too large")
    return raw[:size], len(raw) - size, payload


def unwrap(encoded: str | bytes) -> tuple[Layout, bytes]:
    """The layout and the raw varint stream of one ``HISTF…`` string (ValueError if bad)."""
    try:
        raw = binascii.a2b_base64(encoded)
        cookie, length = EXTERNAL_HEADER.unpack_from(raw)
        if cookie & COOKIE_MASK != COMPRESSION_COOKIE_BASE:
            raise ValueError(f"not a compressed V2 histogram (cookie {cookie:#x})")
        if length != len(raw) - EXTERNAL_HEADER.size:
            raise ValueError("histogram length does not match its header")
        payload = zlib.decompress(raw[EXTERNAL_HEADER.size :])
        cookie, size, offset, sig, lowest, highest, _ = PAYLOAD_HEADER.unpack_from(payload)
    except (binascii.Error, struct.error, zlib.error) as exc:
        raise ValueError(f"not a histogram: {exc}") from None
    if cookie & COOKIE_MASK != ENCODING_COOKIE_BASE:
        raise ValueError(f"bad payload cookie {cookie:#x}")
    if offset != 0 or not (
        1 <= sig <= MAX_SIGNIFICANT_FIGURES and lowest >= 1 and highest >= 2 * lowest
    ):
        raise ValueError("histogram settings out of range")
    stream = payload[HEADER_SIZE : HEADER_SIZE + size]
    if len(stream) != size or (size and stream[-1] >= 0x80):
        raise ValueError("truncated histogram payload")
    return layout_for(int(lowest), int(highest), int(sig)), stream
