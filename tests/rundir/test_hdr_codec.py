"""The HDR wire codec (rundir.hdr_codec, rundir.hdr_batch) agrees exactly with hdrhistogram."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadkit.rundir.hdr_batch import decode_batch
from loadkit.rundir.hdr_codec import Layout, decode_sparse, encode_counts, unwrap

PERCENTILES = [1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]


def _recorded(values: np.ndarray) -> HdrHistogram:
    histogram = HdrHistogram(1, 3_600_000_000, 3)
    for value in values:
        histogram.record_value(int(value))
    return histogram


def test_layout_matches_hdrh() -> None:
    layout = Layout()
    reference = HdrHistogram(1, 3_600_000_000, 3)
    assert layout.counts_len == reference.counts_len
    values = np.unique(np.random.default_rng(3).integers(1, 3_600_000_000, 2000))
    expected = [reference._counts_index_for(int(v)) for v in values]
    assert layout.index_of(values).tolist() == expected
    for index in expected[::50]:
        value = reference.get_value_from_index(index)
        assert layout.highest_equivalent[index] == reference.get_highest_equivalent_value(value)


def test_decode_reads_hdrh_encoding_and_hdrh_reads_ours() -> None:
    values = np.random.default_rng(1).lognormal(9, 1.2, 3000).astype(np.int64) + 1
    reference = _recorded(values)
    layout, index, counts = decode_sparse(reference.encode())
    assert counts.sum() == 3000
    again = HdrHistogram.decode(encode_counts(layout, index, counts))
    for p in PERCENTILES:
        assert again.get_value_at_percentile(p) == reference.get_value_at_percentile(p)


def test_batch_decoder_equals_one_by_one_decoding() -> None:
    rng = np.random.default_rng(4)
    encoded = []
    for k in range(60):
        histogram = HdrHistogram(1, 3_600_000_000, 3)
        for value in rng.lognormal(6 + k % 7, 1.5, int(rng.integers(0, 200))).astype(int) + 1:
            histogram.record_value(int(value), int(rng.integers(1, 100_000)))  # multi-byte
        if k == 5:
            histogram.record_value(3, 10**15)  # a 7-byte varint
        encoded.append(histogram.encode().decode())
    streams = [unwrap(text)[1] for text in encoded]
    rows, index, counts = decode_batch(streams, Layout().counts_len)
    for k, text in enumerate(encoded):
        _, one_index, one_counts = decode_sparse(text)
        assert index[rows == k].tolist() == one_index.tolist()
        assert counts[rows == k].tolist() == one_counts.tolist()
    with pytest.raises(ValueError):
        unwrap(encoded[0][: len(encoded[0]) // 2])


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        decode_sparse("HISTFAAAAC")
    with pytest.raises(Exception):  # noqa: B017 - base64/zlib errors are ValueError or zlib.error
        decode_sparse("bm90IGEgaGlzdG9ncmFt")
