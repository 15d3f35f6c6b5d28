"""The compiled loops of large logs (rundir.hdr_kernels) give exactly what hdrh and the
numpy forms give, on random histograms and their edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import example, given, settings
from hypothesis import strategies as st

from loadkit.report.rollup import scatter_add as numpy_scatter_add
from loadkit.rundir.hdr_batch import decode_varints
from loadkit.rundir.hdr_codec import layout_for, unwrap
from loadkit.rundir.hdr_kernels import decode_scatter, decode_streams, survey_streams

HIGHEST = 3_600_000_000
WIDEST = 1 << 62  # the streamed reader decodes with the widest layout of a precision
HUGE = (1 << 55) - 1  # the largest count an 8-byte varint holds (ZigZag doubles it)

values = st.integers(1, HIGHEST)
# up to 40 values may share a bucket: random counts stay below HUGE once summed (the
# examples put HUGE itself in buckets of their own)
counts = st.one_of(st.integers(1, 300), st.integers(1, HUGE // 64))
histogram = st.dictionaries(values, counts, max_size=40)
histograms = st.lists(st.tuples(st.sampled_from([2, 3]), histogram), min_size=1, max_size=6)


def _encode(figures: int, recorded: dict[int, int]) -> tuple[HdrHistogram, bytes]:
    reference = HdrHistogram(1, HIGHEST, figures)
    for value, count in recorded.items():
        reference.record_value(value, count)
    return reference, unwrap(reference.encode().decode())[1]


@settings(max_examples=150, deadline=None)
@given(histograms)
@example([(3, {})])  # empty
@example([(3, {1: 1})])  # the lowest value, once
@example([(3, {HIGHEST: 1})])  # the highest trackable value
@example([(2, {HIGHEST: HUGE, 1: HUGE, 12_345: 7})])  # huge counts at both ends
@example([(3, {}), (3, {5: 1}), (3, {})])  # empty streams between others
def test_compiled_decoder_equals_hdrh_and_the_numpy_decoder(
    cases: list[tuple[int, dict[int, int]]],
) -> None:
    for figures in (2, 3):
        batch = [(ref, stream) for f, h in cases if f == figures for ref, stream in [_encode(f, h)]]
        if not batch:
            continue
        streams = [stream for _, stream in batch]
        sizes = np.array([len(s) for s in streams], dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        data = np.frombuffer(b"".join(streams), dtype=np.uint8)
        counts_len = layout_for(1, WIDEST, figures).counts_len
        row, index, count, total = decode_streams(data, starts, sizes, counts_len)
        for k, (reference, _) in enumerate(batch):
            expected_index = np.flatnonzero(reference.counts)
            assert index[row == k].tolist() == expected_index.tolist()
            assert count[row == k].tolist() == [int(reference.counts[i]) for i in expected_index]
            assert int(total[k]) == reference.get_total_count()
        used, survey_total = survey_streams(data, starts, sizes, counts_len)
        assert used.tolist() == sorted(set(index.tolist()))
        assert survey_total.tolist() == total.tolist()
        numpy_row, numpy_index, numpy_count = decode_varints(data, sizes, counts_len)
        assert row.tolist() == numpy_row.tolist()
        assert index.tolist() == numpy_index.tolist()
        assert count.tolist() == numpy_count.tolist()


def test_buckets_past_the_layout_are_dropped_and_a_nine_byte_varint_is_refused() -> None:
    _, stream = _encode(3, {10: 1, HIGHEST: 2})
    data = np.frombuffer(stream, dtype=np.uint8)
    sizes = np.array([len(stream)], dtype=np.int64)
    small = layout_for(1, 1000, 3).counts_len  # the layout of a narrower histogram
    _, index, count, total = decode_streams(data, np.zeros(1, np.int64), sizes, small)
    _, numpy_index, numpy_count = decode_varints(data, sizes, small)
    assert index.tolist() == numpy_index.tolist() == [10]
    assert count.tolist() == numpy_count.tolist() == [1] and total.tolist() == [1]
    bad = np.frombuffer(b"\x02" + b"\xff" * 8 + b"\x01", dtype=np.uint8)
    with pytest.raises(ValueError):
        decode_streams(bad, np.zeros(1, np.int64), np.array([len(bad)]), 100)
    cut = np.frombuffer(b"\x02\xff", dtype=np.uint8)  # a varint cut by its stream's end
    for decoder in (decode_streams, survey_streams):
        with pytest.raises(ValueError):
            decoder(cut, np.zeros(1, np.int64), np.array([2]), 100)
        with pytest.raises(ValueError):
            decoder(bad, np.zeros(1, np.int64), np.array([len(bad)]), 100)


# sums are float64, exact while below 2**53 (a run of 2**53 requests is ~28,000 years at 10k/s)
summable = st.lists(
    st.tuples(st.just(3), st.dictionaries(values, st.integers(1, 2**40), max_size=40)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(summable, st.integers(1, 4), st.data())
def test_decoding_into_sums_equals_decoding_then_adding(
    cases: list[tuple[int, dict[int, int]]], groups: int, data: st.DataObject
) -> None:
    """``decode_scatter`` (the streamed pass of a large log) adds what ``decode_streams``
    lists, as ``rollup.scatter_add`` adds it: two sums with their own rows and columns."""
    streams = [_encode(3, recorded)[1] for _, recorded in cases]
    sizes = np.array([len(s) for s in streams], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    bytes_ = np.frombuffer(b"".join(streams), dtype=np.uint8)
    counts_len = layout_for(1, WIDEST, 3).counts_len
    row, index, count, _ = decode_streams(bytes_, starts, sizes, counts_len)
    rng = np.random.default_rng(len(streams))
    sums = []
    for width in (counts_len, 40):  # every index its own column; a coarse mapping
        table = rng.permutation(counts_len) % width
        group = data.draw(st.lists(st.integers(-1, groups - 1), min_size=len(streams),
                                   max_size=len(streams)))  # fmt: skip
        offsets = np.array([g * width if g >= 0 else -1 for g in group], dtype=np.int64)
        start = rng.integers(0, 1000, (groups, width)).astype(np.float64)
        sums.append((start, offsets, table))
    expected = [target.copy() for target, _, _ in sums]
    for target, (_, offsets, table) in zip(expected, sums, strict=True):
        numpy_scatter_add(target, offsets, row.astype(np.int64), table[index], count)
    decode_scatter(bytes_, starts, sizes, counts_len, sums)
    for got, want in zip([target for target, _, _ in sums], expected, strict=True):
        assert np.array_equal(got, want)
