"""The streamed reporter gives the numbers of the in-memory one (which stays as the reference).

``analyse(load_run_dir(d))`` reads every interval histogram into memory; it is
the reference here. ``analyse_run_dir(d)`` streams the log once and keeps only
merged histograms: the phase statistics, recoveries and drift must be equal, and
the series equal at full resolution (rolled up, equal to merging the intervals
of each point).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loadkit.errors import RunDirError
from loadkit.report import report as report_module
from loadkit.report.analysis import OVERALL, Analysis, analyse
from loadkit.report.drift import soak_drift
from loadkit.report.hdr import grouped_percentiles
from loadkit.report.recovery import find_recoveries
from loadkit.report.stream import MAX_POINTS, analyse_run_dir, series_factor
from loadkit.rundir import hlog_stream
from loadkit.rundir.hdr_codec import layout_for
from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import LatencyStep, SyntheticFault


def _both(run_dir: Path) -> tuple[Analysis, Analysis]:
    return analyse(load_run_dir(run_dir)), analyse_run_dir(run_dir)


def _assert_same(old: Analysis, new: Analysis, *, series: bool = True) -> None:
    assert new.endpoints == old.endpoints
    assert [p.name for p in new.phases] == [p.name for p in old.phases]
    pd.testing.assert_frame_equal(new.stats, old.stats)
    assert np.array_equal(new.extras["distribution"], old.extras["distribution"], equal_nan=True)
    assert find_recoveries(new) == find_recoveries(old)
    assert soak_drift(new) == soak_drift(old)
    assert new.run.end_s == old.run.end_s
    # the same warnings (a streamed log's come after those of events and resources)
    assert sorted(new.run.warnings) == sorted(old.run.warnings)
    assert new.run.damage == old.run.damage and new.run.interval_s == old.run.interval_s
    if series:
        pd.testing.assert_frame_equal(
            new.series.reset_index(drop=True), old.series.reset_index(drop=True), check_dtype=False
        )


def test_streamed_analysis_equals_the_in_memory_one(make_run) -> None:
    run_dir = make_run(
        "faults",
        duration_s=240,
        rate=400,
        error_rate=0.02,
        faults=[
            SyntheticFault("slow", 60, 20, endpoints=("POST /execute",), latency_factor=8),
            SyntheticFault("gw-pause", 150, 8, kind="pause", latency_factor=30, recover_s=6),
        ],
        stages=[(0, 30, "ramp"), (30, 200, "steady")],
        steps=[LatencyStep(100, 2.0, "GET /status/[id]")],
    )
    old, new = _both(run_dir)
    assert new.extras["series_width_s"] == 1.0
    assert [r.recovered for r in find_recoveries(new)] == [True, True]
    assert new.stats.loc[("fault:slow", OVERALL), "count"] > 1000
    _assert_same(old, new)


def test_a_soak_long_enough_for_drift_gives_the_same_trends(make_run) -> None:
    run_dir = make_run("soak", duration_s=900, rate=40, memory_mb_per_hour=40.0)
    old, new = _both(run_dir)
    assert soak_drift(new)["trends"]  # drift was computed, from the streamed minutes
    _assert_same(old, new)


def test_a_killed_run_with_torn_lines_and_an_open_fault(make_run) -> None:
    run_dir = make_run(
        "killed",
        duration_s=20,
        rate=100,
        torn=True,
        faults=[SyntheticFault("open", 5, 100, reverted=False)],
    )
    old, new = _both(run_dir)
    assert any("skipped 1 torn" in w for w in new.run.warnings)
    _assert_same(old, new)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few lines: sums and chart points cross chunk boundaries everywhere."""
    monkeypatch.setattr(hlog_stream, "BLOCK_BYTES", 2000)  # ~7 lines


@pytest.mark.parametrize(
    ("workers", "compiled"), [(False, False), (False, True), (True, True)], ids=str
)
def test_small_chunks_change_nothing(
    make_run, small_chunks: None, monkeypatch: pytest.MonkeyPatch, workers: bool, compiled: bool
) -> None:
    """Also decoded in worker processes and by the compiled loops (a large log is): chunks
    are still folded in file order, and the sums are the same."""
    monkeypatch.setattr(hlog_stream, "WORKER_BYTES", 0 if workers else 10**15)
    monkeypatch.setattr(hlog_stream, "COMPILED_BYTES", 0 if compiled else 10**15)
    run_dir = make_run("chunks", duration_s=300, rate=200, faults=[SyntheticFault("f", 200, 5)])
    _assert_same(*_both(run_dir))


def test_a_late_histogram_counts_everywhere_but_its_chart_point(make_run, small_chunks) -> None:
    run_dir = make_run("late", duration_s=400, rate=50)
    hlog = run_dir / "latency.hlog"
    lines = hlog.read_text().splitlines(keepends=True)
    early = next(line for line in lines if line.startswith("Tag=ok:POST"))
    hlog.write_text("".join(lines) + early)  # the first interval written again, at the end
    old, new = _both(run_dir)
    pd.testing.assert_frame_equal(new.stats, old.stats)
    late = [w for w in new.run.warnings if "after their interval" in w]
    assert len(late) == 1 and late[0].startswith("latency.hlog: ")
    assert new.series["count"].sum() < old.series["count"].sum()


def test_long_runs_are_rolled_up_to_at_most_max_points() -> None:
    assert series_factor(MAX_POINTS, 1.0) == 1
    assert series_factor(3600, 1.0) == 2
    assert series_factor(4 * 3600, 1.0) == 10
    assert series_factor(24 * 3600, 1.0) == 60
    assert series_factor(2 * 24 * 3600, 0.5) == 120  # 24 h of half-second intervals: minutes
    for intervals in (2001, 10**4, 10**5, 10**6):
        assert intervals / series_factor(intervals, 1.0) <= MAX_POINTS


def test_rolled_up_points_are_merged_histograms_of_their_intervals(make_run) -> None:
    run_dir = make_run(
        "rolled",
        duration_s=2400,
        rate=20,
        faults=[SyntheticFault("late-fault", 2200, 30, latency_factor=6, recover_s=5)],
    )
    old, new = _both(run_dir)
    _assert_same(old, new, series=False)
    assert new.extras["series_width_s"] == 2.0
    series = new.series.set_index(["s", "endpoint"])
    assert len(series.xs(OVERALL, level="endpoint")) <= MAX_POINTS
    log = load_run_dir(run_dir).latency
    coarse = layout_for(log.layout.lowest, log.layout.highest, 2)
    index_map = coarse.index_of(log.layout.highest_equivalent)
    point = np.floor(log.rows["t"].to_numpy() / 2.0 + 1e-6).astype(np.int64)
    values, totals = grouped_percentiles(
        coarse,
        point,
        log.entry_row,
        log.entry_index,
        log.entry_count,
        [50.0, 95.0, 99.0],
        int(point.max()) + 1,
        index_map=index_map,
    )
    overall = series.xs(OVERALL, level="endpoint")
    present = np.flatnonzero(totals)
    assert len(present) == len(overall) > 1000
    assert np.array_equal(overall["count"].to_numpy(), totals[present])
    assert np.array_equal(overall["p95"].to_numpy(), values[present, 1] / 1000.0)
    assert np.array_equal(overall["rate"].to_numpy(), totals[present] / 2.0)


def test_the_report_summary_is_the_one_of_the_in_memory_analysis(
    make_run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run_dir = make_run(
        "summary",
        duration_s=120,
        rate=300,
        faults=[SyntheticFault("gw-pause", 60, 5, kind="pause", latency_factor=20, recover_s=4)],
        checks=["p95 < 1s", "recovery(gw-pause) < 30s", "error_rate < 5% during steady"],
        stages=[(0, 10, "ramp"), (10, 110, "steady")],
    )
    streamed = report_module.build_report(run_dir).summary
    monkeypatch.setattr(report_module, "load_run_dir", lambda d, read_latency: load_run_dir(d))
    monkeypatch.setattr(report_module, "stream_latency", lambda run: None)  # the whole log
    in_memory = report_module.build_report(run_dir).summary
    _assert_same_json(streamed, in_memory)
    assert streamed["recoveries"][0]["recovered"]


def _assert_same_json(a: object, b: object, key: str = "") -> None:
    """Equal, except a standard deviation (a sum of squares) to its last bits."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), key
        for name in a:
            _assert_same_json(a[name], b[name], name)
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), key
        for x, y in zip(a, b, strict=True):
            _assert_same_json(x, y, key)
    elif key == "stddev" and isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12)
    else:
        assert json.dumps(a) == json.dumps(b), key


def test_an_empty_log_and_a_missing_log(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"name": "empty", "started_at": 1795000000.0}')
    with pytest.raises(RunDirError, match="is missing"):
        analyse_run_dir(tmp_path)
    (tmp_path / "latency.hlog").write_text("#[StartTime: 1795000000.000 (seconds since epoch)]\n")
    old, new = _both(tmp_path)
    _assert_same(old, new)
    assert "latency.hlog holds no requests" in new.run.warnings
    (tmp_path / "latency.hlog").write_text("not a log\n")
    with pytest.raises(RunDirError, match="not an HdrHistogram interval log"):
        analyse_run_dir(tmp_path)
