"""Merging and percentiles of many HdrHistograms on numpy arrays.

The reporter handles tens of thousands of interval histograms, so it never
builds one ``HdrHistogram`` object per interval. A histogram is kept as its
sparse counts: the indices of its non-empty buckets and their counts, in the
standard HdrHistogram bucket layout (:class:`loadkit.rundir.hdr_codec.Layout`,
which also holds the wire codec). Merging is adding counts per index; a
percentile is read from the cumulative counts exactly as
``HdrHistogram.get_value_at_percentile`` does (never an average of
percentiles).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from loadkit.rundir.hdr_codec import FloatArray, IntArray, Layout

__all__ = [
    "grouped_moments",
    "grouped_percentiles",
    "lowest_equivalent",
    "median_equivalent",
    "series_percentiles",
]

BoolArray = npt.NDArray[np.bool_]


def lowest_equivalent(layout: Layout) -> IntArray:
    """Per bucket index of ``layout``, the lowest value it holds (µs): HdrHistogram's min."""
    return layout.lowest_equivalent


@functools.cache
def median_equivalent(layout: Layout) -> FloatArray:
    """Per bucket index, the middle of its value range (µs), as HdrHistogram's mean uses."""
    lowest = lowest_equivalent(layout)
    size = layout.highest_equivalent - lowest + 1
    return (lowest + (size >> 1)).astype(np.float64)


def grouped_percentiles(
    layout: Layout,
    row_group: IntArray,
    entry_row: IntArray,
    index: IntArray,
    counts: IntArray,
    percentiles: list[float],
    n_groups: int,
    *,
    with_total: bool = False,
    index_map: IntArray | None = None,
    total_of: BoolArray | None = None,
) -> tuple[FloatArray, IntArray]:
    """Merge interval histograms per group; return (values[groups, len(p)], totals).

    ``entry_row``, ``index`` and ``counts`` are parallel arrays, one entry per
    non-empty bucket of an interval histogram (a *row*), sorted by row;
    ``row_group`` gives each row's group (-1: left out). The rows of a group
    are merged by bucket, then each percentile is read like HdrHistogram does:
    the highest equivalent value of the first bucket whose cumulative count
    reaches ``int(p * total / 100 + 0.5)`` (at least 1). Empty groups get NaN.
    ``with_total`` adds one row merging every group (or the groups ``total_of`` marks);
    ``index_map`` maps bucket indices to those of ``layout`` (a coarser layout).

    Merging is dense (``bincount``) over the buckets actually used, a bounded
    slice of entries at a time, so memory stays flat however long the run.
    When the groups do not fit one dense block, ``row_group`` must be
    non-decreasing (consecutive rows form each group).
    """
    rows_out = n_groups + (1 if with_total else 0)
    values = np.full((rows_out, len(percentiles)), np.nan)
    totals = np.zeros(rows_out, dtype=np.int64)
    if len(index) == 0 or n_groups == 0:
        return values, totals
    present = np.zeros(layout.counts_len, dtype=bool)
    for lo in range(0, len(index), _SLICE):
        part = slice(lo, min(lo + _SLICE, len(index)))
        mapped = index[part] if index_map is None else index_map[index[part]]
        present |= np.bincount(mapped, minlength=layout.counts_len) > 0
    used = np.flatnonzero(present)
    compact_of = np.zeros(layout.counts_len, dtype=np.int64)
    compact_of[used] = np.arange(len(used))
    if index_map is not None:
        compact_of = compact_of[index_map]
    column_values = layout.highest_equivalent[used]
    width = len(used)
    per_block = max(1, _DENSE_LIMIT // width)

    def merge(first: int, last: int, part: slice) -> FloatArray:
        # rows outside [first, last) go to one extra, dropped group: no mask, no compress
        size = last - first
        base = (row_group - first) * width
        base[(row_group < first) | (row_group >= last)] = size * width
        merged = np.zeros((size + 1) * width)
        stride = max(_SLICE, 4 * len(merged))  # entries at a time: small temporaries
        for lo in range(part.start, part.stop, stride):
            step = slice(lo, min(lo + stride, part.stop))
            key = base[entry_row[step]] + compact_of[index[step]]
            merged += np.bincount(key, weights=counts[step], minlength=len(merged))
        return merged[: size * width].reshape(size, width)

    if n_groups <= per_block:
        dense = merge(0, n_groups, slice(0, len(index)))
        values[:n_groups], totals[:n_groups] = _dense_percentiles(dense, percentiles, column_values)
        if with_total:
            chosen = dense if total_of is None else dense[total_of[:n_groups]]
            values[-1:], totals[-1:] = _dense_percentiles(
                chosen.sum(axis=0)[None, :], percentiles, column_values
            )
        return values, totals
    if np.any(row_group[1:] < row_group[:-1]):
        raise ValueError("row_group must be non-decreasing when groups span several blocks")
    row_start = np.searchsorted(entry_row, np.arange(len(row_group) + 1, dtype=entry_row.dtype))
    block_rows = np.searchsorted(row_group, np.arange(0, n_groups + per_block, per_block))
    overall = np.zeros(width)
    for block, first in enumerate(range(0, n_groups, per_block)):
        last = min(first + per_block, n_groups)
        lo, hi = int(row_start[block_rows[block]]), int(row_start[block_rows[block + 1]])
        if lo == hi:
            continue
        dense = merge(first, last, slice(lo, hi))
        if with_total:
            overall += (dense if total_of is None else dense[total_of[first:last]]).sum(axis=0)
        values[first:last], totals[first:last] = _dense_percentiles(
            dense, percentiles, column_values
        )
    if with_total:
        values[-1:], totals[-1:] = _dense_percentiles(overall[None, :], percentiles, column_values)
    return values, totals


def grouped_moments(
    layout: Layout,
    row_group: IntArray,
    entry_row: IntArray,
    index: IntArray,
    counts: IntArray,
    n_groups: int,
    total_of: BoolArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation (µs) per group, plus one last row for every group together
    (or the groups ``total_of`` marks).

    Same inputs as :func:`grouped_percentiles`; values are bucket midpoints, as in
    HdrHistogram's ``getMean``/``getStdDeviation``. Empty groups get NaN.
    """
    n = n_groups + 1
    middle = median_equivalent(layout)

    def summed(mean: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        """Per group (and overall): total count, and sum of count * value (or of the
        squared deviation from ``mean`` when given: two passes, no cancellation)."""
        weight, total = np.zeros(n + 1), np.zeros(n + 1)
        for lo in range(0, len(index), _SLICE):
            part = slice(lo, min(lo + _SLICE, len(index)))
            group = row_group[entry_row[part]]
            keep = group >= 0
            group, count = group[keep], counts[part][keep].astype(np.float64)
            value = middle[index[part][keep]]
            everyone = np.full_like(group, n_groups)
            if total_of is not None:
                everyone[~total_of[group]] = n_groups + 1  # a dropped bin
            for key, centre in ((group, None), (everyone, None)):
                if mean is not None:
                    centre = np.append(mean, 0.0)[key]
                term = value if centre is None else (value - centre) ** 2
                weight += np.bincount(key, weights=count, minlength=n + 1)
                total += np.bincount(key, weights=count * term, minlength=n + 1)
        return weight[:n], total[:n]

    weight, first = summed(None)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight > 0, first / np.maximum(weight, 1), np.nan)
        _, second = summed(np.nan_to_num(mean))
        stddev = np.where(weight > 0, np.sqrt(second / np.maximum(weight, 1)), np.nan)
    return mean, stddev


_SLICE = 1 << 18  # entries at a time (small temporaries: fresh memory is costly here)
_DENSE_LIMIT = 2_000_000  # groups x used buckets merged at once (16 MB of float64)


def _target_count(p: float, totals: IntArray) -> IntArray:
    """HdrHistogram's count at percentile: ``int(p * total / 100 + 0.5)``, within [1, total]."""
    target = np.maximum((p * totals / 100.0 + 0.5).astype(np.int64), 1)
    return np.minimum(target, totals)


def _dense_percentiles(
    dense: FloatArray, percentiles: list[float], column_values: IntArray
) -> tuple[FloatArray, IntArray]:
    """Percentiles of each row of merged counts; columns are buckets worth ``column_values``."""
    cumulative = np.cumsum(dense, axis=1)
    totals = np.rint(cumulative[:, -1]).astype(np.int64)
    values = np.full((len(dense), len(percentiles)), np.nan)
    present = np.flatnonzero(totals > 0)
    if len(present) == 0:
        return values, totals
    if len(present) < len(dense):
        cumulative = cumulative[present]
    width = cumulative.shape[1]
    # Each row is non-decreasing: lift every row above the previous one and find all the
    # targets with one binary search each (exact while the sums stay below 2**52).
    spacing = float(totals.max()) + 1.0
    if spacing * len(present) < 2.0**52:
        lift = np.arange(len(present)) * spacing
        cumulative += lift[:, None]
        flat = cumulative.reshape(-1)
        row_first = np.arange(len(present)) * width
        for column, p in enumerate(percentiles):
            target = _target_count(p, totals[present]) - 0.5 + lift
            position = np.searchsorted(flat, target, side="left") - row_first
            values[present, column] = column_values[position]
        return values, totals
    for column, p in enumerate(percentiles):
        target = _target_count(p, totals[present])
        position = (cumulative < target[:, None] - 0.5).sum(axis=1)
        values[present, column] = column_values[position]
    return values, totals


def series_percentiles(
    layout: Layout,
    row_slot: IntArray,
    row_endpoint: IntArray,
    n_slots: int,
    n_endpoints: int,
    entry_row: IntArray,
    index: IntArray,
    counts: IntArray,
    percentiles: list[float],
    index_map: IntArray,
    total_of: BoolArray | None = None,
) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    """Per interval: percentiles per endpoint and overall, in one pass over the entries.

    ``row_slot`` (the interval of each row) must be non-decreasing. Returns
    (values[slot, endpoint, p], totals[slot, endpoint], overall values[slot, p],
    overall totals[slot]). ``index_map`` maps bucket indices to ``layout`` (coarser);
    the overall merges the endpoints ``total_of`` marks (default: all).
    """
    n_p = len(percentiles)
    values = np.full((n_slots, n_endpoints, n_p), np.nan)
    totals = np.zeros((n_slots, n_endpoints), dtype=np.int64)
    overall = np.full((n_slots, n_p), np.nan)
    overall_totals = np.zeros(n_slots, dtype=np.int64)
    if len(index) == 0:
        return values, totals, overall, overall_totals
    present = np.zeros(layout.counts_len, dtype=bool)
    for lo in range(0, len(index), _SLICE):
        present |= np.bincount(index_map[index[lo : lo + _SLICE]], minlength=layout.counts_len) > 0
    used = np.flatnonzero(present)
    compact_of = np.zeros(layout.counts_len, dtype=np.int64)
    compact_of[used] = np.arange(len(used))
    compact_of = compact_of[index_map]
    column_values = layout.highest_equivalent[used]
    width = len(used)
    per_block = max(1, _DENSE_LIMIT // (width * n_endpoints))
    row_start = np.searchsorted(entry_row, np.arange(len(row_slot) + 1, dtype=entry_row.dtype))
    block_rows = np.searchsorted(row_slot, np.arange(0, n_slots + per_block, per_block))
    for block, first in enumerate(range(0, n_slots, per_block)):
        last = min(first + per_block, n_slots)
        r0, r1 = int(block_rows[block]), int(block_rows[block + 1])
        lo, hi = int(row_start[r0]), int(row_start[r1])
        if lo == hi:
            continue
        row_key = ((row_slot[r0:r1] - first) * n_endpoints + row_endpoint[r0:r1]) * width
        key = np.repeat(row_key, np.diff(row_start[r0 : r1 + 1])) + compact_of[index[lo:hi]]
        size = (last - first) * n_endpoints
        merged = np.bincount(key, weights=counts[lo:hi], minlength=size * width)
        dense: FloatArray = merged.astype(np.float64, copy=False).reshape(size, width)
        block_values, block_totals = _dense_percentiles(dense, percentiles, column_values)
        values[first:last] = block_values.reshape(last - first, n_endpoints, n_p)
        totals[first:last] = block_totals.reshape(last - first, n_endpoints)
        by_endpoint = dense.reshape(last - first, n_endpoints, width)
        per_slot = (by_endpoint if total_of is None else by_endpoint[:, total_of]).sum(axis=1)
        overall[first:last], overall_totals[first:last] = _dense_percentiles(
            per_slot, percentiles, column_values
        )
    return values, totals, overall, overall_totals
