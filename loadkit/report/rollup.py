"""Merged histograms summed as a log streams by: per group, and per time bucket.

:class:`Columns` numbers the bucket indices a run actually uses (a few
thousand at most, whatever its length) so that the sums are small dense
arrays. :class:`GroupSums` sums histograms into a fixed set of groups (the
segments of a run's phases x endpoints x outcome). :class:`BucketSums` sums
them into time buckets x groups and hands back each bucket once it is
complete (:meth:`BucketSums.finish_before`), so only the buckets still open are
in memory. Both give each histogram's row (``offsets``); the counts are added
there by :func:`scatter_add`, or decoded straight into them by
:func:`loadkit.rundir.hdr_kernels.decode_scatter` (one pass for all the sums).
Percentiles are read from the merged counts exactly as :mod:`loadkit.report.hdr`
does (never averaged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loadkit.report.hdr import _dense_percentiles
from loadkit.rundir.hdr_codec import IntArray

__all__ = [
    "BoolArray",
    "BucketSums",
    "Columns",
    "Finished",
    "GroupSums",
    "merged_percentiles",
    "scatter_add",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Columns:
    """Dense column numbers for the bucket indices seen so far (indices mapped first)."""

    def __init__(self, index_map: IntArray) -> None:
        self.index_map = index_map  # bucket index -> the index it counts as (coarser layouts)
        self.column_of = np.full(int(index_map.max()) + 1, -1, dtype=np.int64)
        self.index_of_column = np.zeros(0, dtype=np.int64)
        self.table = self.column_of[index_map]  # bucket index -> column (-1: not yet)
        self._order = np.zeros(0, dtype=np.int64)  # columns in bucket order (when complete)

    def __len__(self) -> int:
        return len(self.index_of_column)

    def columns(self, index: IntArray) -> IntArray:
        """The column of each bucket index, numbering new ones."""
        column = self.table[index]
        if column.min(initial=0) < 0:
            new = np.unique(self.index_map[index[column < 0]])
            self.column_of[new] = np.arange(len(self), len(self) + len(new))
            self.index_of_column = np.concatenate((self.index_of_column, new))
            self.table = self.column_of[self.index_map]
            column = self.table[index]
        return column

    def order(self, columns: int | None = None) -> IntArray:
        """The first ``columns`` columns (all by default) in bucket order."""
        if columns is None or columns == len(self):
            if len(self._order) != len(self):
                self._order = np.argsort(self.index_of_column, kind="stable")
            return self._order
        return np.argsort(self.index_of_column[:columns], kind="stable")

    def sorted_view(self, dense: FloatArray) -> tuple[FloatArray, IntArray]:
        """Columns of ``dense`` in bucket order, and their bucket indices."""
        order = self.order(dense.shape[1])
        return dense[:, order], self.index_of_column[order]


def _widen(array: FloatArray, rows: int, columns: int) -> FloatArray:
    if array.shape[0] >= rows and array.shape[1] >= columns:
        return array
    wide = array.shape[1] if columns <= array.shape[1] else max(columns, 2 * array.shape[1], 64)
    grown = np.zeros((max(rows, array.shape[0]), wide))
    grown[: array.shape[0], : array.shape[1]] = array
    return grown


def scatter_add(
    target: FloatArray, offsets: IntArray, entry_row: IntArray, column: IntArray, counts: IntArray
) -> None:
    """``target.flat[offsets[entry_row[e]] + column[e]] += counts[e]`` for every entry whose
    histogram's offset is not negative. Sums of integer counts in float64 are exact, in
    any order (``hdr_kernels.decode_scatter`` adds the same counts, decoded on the way)."""
    key = offsets[entry_row]
    if len(offsets) and int(offsets.min()) < 0:
        chosen = key >= 0
        key, column, counts = key[chosen], column[chosen], counts[chosen]
    if len(key) == 0:
        return
    key = key + column
    low, high = int(key.min()), int(key.max()) + 1
    flat = target.reshape(-1)
    flat[low:high] += np.bincount(key - low, weights=counts, minlength=high - low)


class GroupSums:
    """Histograms merged per group (groups numbered from 0, growing as needed)."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.counts = np.zeros((0, 0))

    def offsets(self, group: IntArray, totals: IntArray) -> IntArray | None:
        """Make room for histograms of ``group`` (their ``totals``: an empty one adds nothing)
        and return where each one's row starts in ``counts`` (flat, -1: left out), for
        :func:`scatter_add`; None when none adds anything. Number new columns first."""
        keep = totals > 0
        if not keep.any():
            return None
        self.counts = _widen(self.counts, int(group[keep].max()) + 1, len(self.columns))
        return np.where(keep, group * self.counts.shape[1], -1)

    def sorted(self) -> tuple[FloatArray, IntArray]:
        """Merged counts (groups x used buckets, in bucket order) and the bucket indices."""
        return self.columns.sorted_view(self.counts[:, : len(self.columns)])


class BucketSums:
    """Histograms merged per (time bucket, group); complete buckets are handed back.

    Buckets are numbered from 0 up; ``groups`` per bucket. Only buckets from
    ``first_open`` on are kept: a histogram for an earlier bucket is *late*
    and only counted in ``late``.
    """

    def __init__(self, columns: Columns, groups: int) -> None:
        self.columns = columns
        self.groups = groups
        self.first_open = 0
        self.counts = np.zeros((0, 0))  # (bucket - first_open) * groups + group, column
        self.used = 0  # rows of counts that may hold counts (the rest are zero)
        self.failures = np.zeros(0)  # failed requests per (bucket - first_open) * groups + group
        self.late = 0

    def set_groups(self, groups: int) -> None:
        """Grow the groups per bucket (new groups are empty)."""
        if groups <= self.groups:
            return
        buckets = -(-self.counts.shape[0] // self.groups) if self.groups else 0
        counts = np.zeros((buckets, groups, self.counts.shape[1]))
        failures = np.zeros((buckets, groups))
        if buckets:
            padded = _widen(self.counts, buckets * self.groups, self.counts.shape[1])
            counts[:, : self.groups] = padded[: buckets * self.groups].reshape(
                buckets, self.groups, -1
            )
            old = np.zeros(buckets * self.groups)
            old[: len(self.failures)] = self.failures[: len(old)]
            failures[:, : self.groups] = old.reshape(buckets, self.groups)
        self.counts = counts.reshape(buckets * groups, self.counts.shape[1])
        self.failures = failures.reshape(-1)
        self.used = -(-self.used // self.groups) * groups if self.groups else 0
        self.groups = groups

    def add_failures(self, bucket: IntArray, group: IntArray, failed: IntArray) -> None:
        """Failed requests (one figure per histogram) of each bucket and group."""
        keep = bucket >= self.first_open
        if not keep.any():
            return
        key = (bucket[keep] - self.first_open) * self.groups + group[keep]
        size = max(int(key.max()) + 1, len(self.failures))
        grown = np.zeros(size)
        grown[: len(self.failures)] = self.failures
        self.failures = grown + np.bincount(key, weights=failed[keep], minlength=size)

    def offsets(
        self, bucket: IntArray, group: IntArray, totals: IntArray, keep: BoolArray | None = None
    ) -> IntArray | None:
        """Make room for histograms of time ``bucket`` and ``group`` (only those in ``keep``;
        their ``totals``) and return where each one's row starts in ``counts`` (flat, -1: left
        out), for :func:`scatter_add`; None when none adds anything. A histogram of a bucket
        already handed back is counted in ``late`` and left out."""
        late = bucket < self.first_open
        if late.any():
            self.late += int(totals[late if keep is None else late & keep].sum())
        keep = ~late if keep is None else keep & ~late
        keep &= totals > 0  # an empty histogram adds nothing
        if not keep.any():
            return None
        high = int(bucket[keep].max()) - self.first_open + 1
        self.counts = _widen(self.counts, high * self.groups, len(self.columns))
        self.used = max(self.used, high * self.groups)
        row = (bucket - self.first_open) * self.groups + group
        return np.where(keep, row * self.counts.shape[1], -1)

    def finish_before(self, bucket: int) -> Finished:
        """Hand back the buckets before ``bucket`` and forget them.

        Only the rows in use are copied and shifted down (the capacity is kept);
        buckets without any counts come back with no columns at all.
        """
        first = self.first_open
        done = max(bucket - first, 0)
        rows = min(done * self.groups, self.used)
        failures = np.zeros(done * self.groups)
        taken = min(len(failures), len(self.failures))
        failures[:taken] = self.failures[:taken]
        self.failures = self.failures[taken:].copy()
        self.first_open = max(bucket, first)
        if rows == 0:  # nothing counted in them (e.g. recovery between its windows)
            empty, no_index = np.zeros((done, self.groups, 0)), np.zeros(0, dtype=np.int64)
            return Finished(first, empty, failures.reshape(done, self.groups), no_index)
        columns = len(self.columns)
        if self.counts.shape[1] < columns:
            self.counts = _widen(self.counts, self.counts.shape[0], columns)
        order = self.columns.order()
        block = np.zeros((done * self.groups, columns))
        block[:rows] = self.counts[:rows, order]
        used = self.used  # shift the rows still open down, keep the capacity
        self.counts[: used - rows] = self.counts[rows:used]
        self.counts[used - rows : used] = 0.0
        self.used = used - rows
        return Finished(
            first,
            block.reshape(done, self.groups, columns),
            failures.reshape(done, self.groups),
            self.columns.index_of_column[order],
        )


@dataclass
class Finished:
    """Complete buckets: ``counts[bucket - first, group, column]``, columns in bucket order."""

    first: int
    counts: FloatArray
    failures: FloatArray  # [bucket - first, group]
    indices: IntArray  # the bucket index of each column


def merged_percentiles(
    counts: FloatArray, percentiles: list[float], values: IntArray
) -> tuple[FloatArray, IntArray]:
    """Percentiles (µs) and totals of each row of merged counts (columns worth ``values``)."""
    if counts.shape[1] == 0:
        rows = counts.shape[0]
        return np.full((rows, len(percentiles)), np.nan), np.zeros(rows, dtype=np.int64)
    return _dense_percentiles(counts, percentiles, values)
