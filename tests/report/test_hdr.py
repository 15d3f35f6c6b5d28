"""The numpy HDR arithmetic agrees exactly with the hdrhistogram package."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadkit.report.hdr import grouped_percentiles
from loadkit.rundir.hdr_codec import Layout, decode_sparse

PERCENTILES = [1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]


def _recorded(values: np.ndarray) -> HdrHistogram:
    histogram = HdrHistogram(1, 3_600_000_000, 3)
    for value in values:
        histogram.record_value(int(value))
    return histogram


@pytest.mark.parametrize("dense", [True, False])
def test_merged_percentiles_equal_hdrh_of_merged_histogram(dense, monkeypatch) -> None:
    import loadkit.report.hdr as hdr

    if not dense:
        monkeypatch.setattr(hdr, "_DENSE_LIMIT", 0)  # one group per block
        monkeypatch.setattr(hdr, "_SLICE", 7)
    rng = np.random.default_rng(2)
    parts = [rng.lognormal(mu, 0.6, 400).astype(np.int64) + 1 for mu in (8, 9, 11, 7)]
    row_group = np.array([0, 0, 2, -1])  # rows 0 and 1 merge; row 3 is left out
    sizes, indices, counts = [], [], []
    for part in parts:
        _, index, count = decode_sparse(_recorded(part).encode())
        sizes.append(len(index))
        indices.append(index)
        counts.append(count)
    if not dense:
        row_group = row_group[:3]  # several blocks need ordered groups and no -1
        sizes, indices, counts = sizes[:3], indices[:3], counts[:3]
    values, totals = grouped_percentiles(
        Layout(),
        row_group,
        np.repeat(np.arange(len(sizes)), sizes),
        np.concatenate(indices),
        np.concatenate(counts),
        PERCENTILES,
        3,
        with_total=True,
    )
    assert totals.tolist() == [800, 0, 400, 1200]
    merged = _recorded(np.concatenate(parts[:2]))
    assert values[0].tolist() == [merged.get_value_at_percentile(p) for p in PERCENTILES]
    assert np.isnan(values[1]).all()
    alone = _recorded(parts[2])
    assert values[2].tolist() == [alone.get_value_at_percentile(p) for p in PERCENTILES]
    everything = _recorded(np.concatenate(parts[:3]))
    assert values[3].tolist() == [everything.get_value_at_percentile(p) for p in PERCENTILES]
    # the total of some groups only (request endpoints, not composite events)
    chosen, chosen_totals = grouped_percentiles(
        Layout(),
        row_group,
        np.repeat(np.arange(len(sizes)), sizes),
        np.concatenate(indices),
        np.concatenate(counts),
        PERCENTILES,
        3,
        with_total=True,
        total_of=np.array([False, True, True]),
    )
    assert chosen_totals[-1] == 400
    assert chosen[-1].tolist() == [alone.get_value_at_percentile(p) for p in PERCENTILES]
