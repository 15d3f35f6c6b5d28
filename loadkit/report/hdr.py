"""HdrHistogram arithmetic on numpy arrays: bucket layout, wire codec, percentiles.

The reporter handles tens of thousands of interval histograms, so it never
builds one ``HdrHistogram`` object per interval. A histogram is kept as its
sparse counts: the indices of its non-empty buckets and their counts, in the
standard HdrHistogram bucket layout. Merging is adding counts per index;
a percentile is read from the cumulative counts exactly as
``HdrHistogram.get_value_at_percentile`` does (never an average of
percentiles). The wire codec reads and writes the standard V2 compressed
encoding (the ``HISTF…`` strings of ``.hlog`` files) through ``pyhdrh``, the C
extension the ``hdrhistogram`` package uses.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import numpy.typing as npt
import pyhdrh  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Layout", "decode_sparse", "encode_counts", "grouped_percentiles", "merged_counts"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_EXTERNAL_HEADER = struct.Struct(">II")  # cookie, compressed length
_PAYLOAD_HEADER = struct.Struct(">IIIIQQd")  # cookie, len, offset, sig, lo, hi, ratio
_COMPRESSION_COOKIE = 0x1C849304 | 0x10
_ENCODING_COOKIE = 0x1C849303 | 0x10
_COOKIE_BASE_MASK = ~0xF0
_WORD_SIZE = 8


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
    def highest_equivalent(self) -> IntArray:
        """Per bucket index, the value HdrHistogram reports for it (µs)."""
        index = np.arange(self.counts_len, dtype=np.int64)
        half = 1 << self.half_count_magnitude
        bucket = (index >> self.half_count_magnitude) - 1
        sub_bucket = (index & (half - 1)) + half
        first = bucket < 0
        sub_bucket[first] -= half
        bucket[first] = 0
        shift = bucket + self.unit_magnitude
        lowest_equivalent = sub_bucket << shift
        return lowest_equivalent + (np.int64(1) << shift) - 1

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
    raw = base64.b64decode(encoded, validate=False)
    if len(raw) < _EXTERNAL_HEADER.size:
        raise ValueError("histogram too short")
    cookie, length = _EXTERNAL_HEADER.unpack_from(raw)
    if cookie & _COOKIE_BASE_MASK != _COMPRESSION_COOKIE & _COOKIE_BASE_MASK:
        raise ValueError(f"not a compressed V2 histogram (cookie {cookie:#x})")
    if length != len(raw) - _EXTERNAL_HEADER.size:
        raise ValueError("histogram length does not match its header")
    payload = zlib.decompress(raw[_EXTERNAL_HEADER.size :])
    if len(payload) < _PAYLOAD_HEADER.size:
        raise ValueError("histogram payload too short")
    cookie, _len, _offset, sig, lowest, highest, _ratio = _PAYLOAD_HEADER.unpack_from(payload)
    if cookie & _COOKIE_BASE_MASK != _ENCODING_COOKIE & _COOKIE_BASE_MASK:
        raise ValueError(f"bad payload cookie {cookie:#x}")
    if not (1 <= sig <= 5 and lowest >= 1 and highest >= 2 * lowest):
        raise ValueError("histogram settings out of range")
    layout = _layout(int(lowest), int(highest), int(sig))
    buffer = _scratch.get(layout.counts_len)
    found = pyhdrh.decode(
        payload, _PAYLOAD_HEADER.size, buffer.ctypes.data, layout.counts_len, _WORD_SIZE
    )
    if not found["total"]:
        return layout, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(found["min_nonzero_index"]), int(found["max_nonzero_index"]) + 1
    window = buffer[low:high]
    index = np.flatnonzero(window)
    counts = window[index].astype(np.int64)
    window[index] = 0
    return layout, index + low, counts


@lru_cache(maxsize=16)
def _layout(lowest: int, highest: int, significant_figures: int) -> Layout:
    return Layout(lowest, highest, significant_figures)


def encode_counts(layout: Layout, index: IntArray, counts: IntArray) -> str:
    """Encode sparse counts as a standard V2 compressed, base64 histogram."""
    dense = np.zeros(layout.counts_len, dtype=np.uint64)
    np.add.at(dense, index, counts.astype(np.uint64))
    relevant = int(index.max()) + 1 if len(index) else 0
    varint_room = relevant * (_WORD_SIZE + 1) + 16
    out = np.zeros(_PAYLOAD_HEADER.size + varint_room, dtype=np.uint8)
    used = pyhdrh.encode(
        dense.ctypes.data, relevant, _WORD_SIZE, out.ctypes.data + _PAYLOAD_HEADER.size, varint_room
    )
    header = _PAYLOAD_HEADER.pack(
        _ENCODING_COOKIE, used, 0, layout.significant_figures, layout.lowest, layout.highest, 1.0
    )
    body = zlib.compress(header + out[_PAYLOAD_HEADER.size : _PAYLOAD_HEADER.size + used].tobytes())
    wrapped = _EXTERNAL_HEADER.pack(_COMPRESSION_COOKIE, len(body)) + body
    return base64.b64encode(wrapped).decode("ascii")


def grouped_percentiles(
    layout: Layout,
    group: IntArray,
    index: IntArray,
    counts: IntArray,
    percentiles: list[float],
    n_groups: int,
) -> tuple[FloatArray, IntArray]:
    """Merge sparse counts per group; return (values[n_groups, len(p)], totals).

    ``group``, ``index`` and ``counts`` are parallel arrays (one entry per
    non-empty bucket of some interval histogram). Entries of one group are
    merged by bucket, then each percentile is read like HdrHistogram does:
    the highest equivalent value of the first bucket whose cumulative count
    reaches ``int(p * total / 100 + 0.5)`` (at least 1). Empty groups get NaN.
    """
    values = np.full((n_groups, len(percentiles)), np.nan)
    totals = np.zeros(n_groups, dtype=np.int64)
    if len(group) == 0:
        return values, totals
    if n_groups * layout.counts_len <= _DENSE_LIMIT:
        return _dense_percentiles(layout, group, index, counts, percentiles, n_groups)
    key = group.astype(np.int64) * layout.counts_len + index
    order = np.argsort(key, kind="stable")
    key, weights = key[order], counts[order]
    unique_key, starts = np.unique(key, return_index=True)
    merged = np.add.reduceat(weights, starts)
    merged_group = unique_key // layout.counts_len
    merged_index = unique_key % layout.counts_len
    cumulative = np.cumsum(merged)
    totals[:] = np.bincount(merged_group, weights=merged, minlength=n_groups).astype(np.int64)
    before = np.concatenate(([0], np.cumsum(totals)[:-1]))
    present = np.flatnonzero(totals > 0)
    for column, p in enumerate(percentiles):
        target = _target_count(p, totals[present])
        position = np.searchsorted(cumulative, before[present] + target, side="left")
        values[present, column] = layout.highest_equivalent[merged_index[position]]
    return values, totals


_DENSE_LIMIT = 4_000_000  # groups x buckets merged in one dense array (32 MB)


def _target_count(p: float, totals: IntArray) -> IntArray:
    """HdrHistogram's count at percentile: ``int(p * total / 100 + 0.5)``, within [1, total]."""
    target = np.maximum((p * totals / 100.0 + 0.5).astype(np.int64), 1)
    return np.minimum(target, totals)


def _dense_percentiles(
    layout: Layout,
    group: IntArray,
    index: IntArray,
    counts: IntArray,
    percentiles: list[float],
    n_groups: int,
) -> tuple[FloatArray, IntArray]:
    dense = merged_counts(layout, group, index, counts, n_groups)
    cumulative = np.cumsum(dense, axis=1)
    totals = cumulative[:, -1].copy()
    values = np.full((n_groups, len(percentiles)), np.nan)
    present = np.flatnonzero(totals > 0)
    for column, p in enumerate(percentiles):
        target = _target_count(p, totals[present])
        position = np.argmax(cumulative[present] >= target[:, None], axis=1)
        values[present, column] = layout.highest_equivalent[position]
    return values, totals


def merged_counts(
    layout: Layout, group: IntArray, index: IntArray, counts: IntArray, n_groups: int
) -> IntArray:
    """Dense merged counts, one row of ``layout.counts_len`` buckets per group."""
    key = group.astype(np.int64) * layout.counts_len + index
    flat = np.bincount(key, weights=counts, minlength=n_groups * layout.counts_len)
    return flat.astype(np.int64).reshape(n_groups, layout.counts_len)
