"""Analysis of synthetic run dirs: merged percentiles, phases, recovery, drift, damaged runs."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadkit.report.analysis import OVERALL, analyse
from loadkit.report.drift import fit_trend, soak_drift, t_critical_975, t_two_sided_p
from loadkit.report.recovery import find_recoveries
from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import SyntheticFault


def test_whole_run_percentiles_equal_one_merged_hdrh_histogram(make_run) -> None:
    run_dir = make_run("merge", duration_s=20, rate=200, median_ms={"POST /execute": 50.0})
    merged = HdrHistogram(1, 3_600_000_000, 3)
    for line in (run_dir / "latency.hlog").read_text().splitlines():
        if line.startswith("Tag=ok:POST%20/execute") or line.startswith("Tag=fail:POST%20/exe"):
            merged.decode_and_add(line.split(",")[-1])
    analysis = analyse(load_run_dir(run_dir))
    stats = analysis.stats.loc[("run", "POST /execute")]
    assert stats["count"] == merged.get_total_count() > 1000
    for key, p in (("p50", 50), ("p95", 95), ("p99", 99), ("p99_9", 99.9), ("max", 100)):
        assert stats[key] == merged.get_value_at_percentile(p) / 1000.0
    assert analysis.stats.loc[("run", OVERALL), "count"] == analysis.run.latency.rows["count"].sum()


def test_phases_split_before_during_after_and_stages(make_run) -> None:
    run_dir = make_run(
        "phases",
        duration_s=60,
        rate=300,
        faults=[
            SyntheticFault(
                "slow", 20, 10, endpoints=("POST /execute",), latency_factor=10, error_rate=0.4
            )
        ],
        stages=[(0, 5, "ramp"), (10, 20, "steady")],
    )
    analysis = analyse(load_run_dir(run_dir))
    names = [phase.name for phase in analysis.phases]
    assert names == [
        "run",
        "before faults",
        "fault:slow",
        "after fault:slow",
        "stage:ramp",
        "stage:steady",
    ]
    stat = analysis.stat
    assert stat("before faults", "POST /execute", "error_rate") == 0.0
    assert stat("fault:slow", "POST /execute", "error_rate") == pytest.approx(0.4, abs=0.08)
    assert stat("fault:slow", "GET /status/[id]", "error_rate") == 0.0
    assert stat("fault:slow", "POST /execute", "p50") > 5 * stat(
        "before faults", "POST /execute", "p50"
    )
    assert stat("after fault:slow", "POST /execute", "p95") < 2 * stat(
        "before faults", "POST /execute", "p95"
    )
    during = analysis.stats.loc[("fault:slow", OVERALL)]
    assert during["rate"] == pytest.approx(300, rel=0.2)


def test_recovery_time_of_a_pause_fault(make_run) -> None:
    run_dir = make_run(
        "pause",
        duration_s=90,
        rate=200,
        faults=[SyntheticFault("gw-pause", 30, 5, kind="pause", latency_factor=30, recover_s=8)],
    )
    analysis = analyse(load_run_dir(run_dir))
    (recovery,) = find_recoveries(analysis)
    assert recovery.recovered
    # the effect fades out linearly over 8 s; healthy = p95 within 25 % (+5 ms) of before
    assert recovery.recovery_s is not None and 4.0 <= recovery.recovery_s <= 8.0
    during = analysis.stats.loc[("fault:gw-pause", OVERALL), "count"]
    assert during == 0  # a paused target answers nothing


def test_a_fault_that_never_heals_did_not_recover(make_run) -> None:
    run_dir = make_run(
        "stuck",
        duration_s=40,
        rate=200,
        faults=[SyntheticFault("leak", 10, 5, latency_factor=8, recover_s=1000)],
    )
    (recovery,) = find_recoveries(analyse(load_run_dir(run_dir)))
    assert not recovery.recovered and recovery.recovery_s is None
    assert "end of the run" in recovery.note


def test_killed_run_with_torn_lines_still_analyses(make_run) -> None:
    run_dir = make_run(
        "killed",
        duration_s=15,
        rate=100,
        torn=True,
        faults=[SyntheticFault("open", 5, 100, reverted=False)],
    )
    run = load_run_dir(run_dir)
    assert run.latency.skipped_lines == 1
    assert any("events.jsonl" in w for w in run.warnings)
    analysis = analyse(run)
    assert analysis.stats.loc[("run", OVERALL), "count"] > 1000
    (window,) = analysis.faults
    assert not window.reverted and window.end_s == pytest.approx(run.end_s)
    (recovery,) = find_recoveries(analysis)
    assert recovery.note == "never reverted"


def test_empty_run_dir_has_no_endpoints_and_nan_stats(tmp_path) -> None:
    (tmp_path / "run.json").write_text('{"name": "empty", "started_at": 1795000000.0}')
    (tmp_path / "latency.hlog").write_text("#[StartTime: 1795000000.000 (seconds since epoch)]\n")
    analysis = analyse(load_run_dir(tmp_path))
    assert analysis.endpoints == []
    assert analysis.stats.loc[("run", OVERALL), "count"] == 0
    assert np.isnan(analysis.stats.loc[("run", OVERALL), "p95"])
    assert soak_drift(analysis)["trends"] == []


def test_student_t_matches_tables() -> None:
    assert t_two_sided_p(2.0, 10) == pytest.approx(0.0734, abs=2e-4)
    assert t_two_sided_p(3.0, 58) == pytest.approx(0.00397, abs=1e-4)
    assert t_critical_975(10) == pytest.approx(2.228, abs=1e-3)
    assert t_critical_975(1000) == pytest.approx(1.962, abs=1e-3)


def test_trend_is_flagged_only_when_significant_and_large() -> None:
    rng = np.random.default_rng(5)
    seconds = np.arange(0, 3600, 60.0)
    rising = 100 + 20 * seconds / 3600 + rng.normal(0, 1, len(seconds))
    flat = 100 + rng.normal(0, 1, len(seconds))
    up = fit_trend("memory", "MB", seconds, rising)
    assert up is not None and up.flagged and up.ci_low < 20 < up.ci_high and up.p_value < 1e-6
    level = fit_trend("memory", "MB", seconds, flat)
    assert level is not None and not level.flagged


def test_soak_drift_flags_a_memory_leak_but_not_stable_latency(make_run) -> None:
    run_dir = make_run("soak", duration_s=900, rate=40, memory_mb_per_hour=40.0)
    drift = soak_drift(analyse(load_run_dir(run_dir)))
    trends = {t["series"]: t for t in drift["trends"]}
    assert trends["gateway memory"]["flagged"]
    assert trends["gateway memory"]["slope_per_hour"] == pytest.approx(40, rel=0.2)
    assert not trends["p95 latency"]["flagged"]
    short = soak_drift(analyse(load_run_dir(make_run("short", duration_s=30))))
    assert short["skipped"] and short["trends"] == []


def test_series_are_merged_histograms_at_two_digits(make_run) -> None:
    from loadkit.report.hdr import grouped_percentiles

    run_dir = make_run("series", duration_s=20, rate=400, error_rate=0.05)
    run = load_run_dir(run_dir)
    analysis = analyse(run)
    log = run.latency
    slot = np.floor(log.rows["t"].to_numpy()).astype(np.int64)
    ids = np.array([analysis.endpoints.index(e) for e in log.rows["endpoint"]])
    n = len(analysis.endpoints)
    exact, totals = grouped_percentiles(
        log.layout, slot * n + ids, log.entry_row, log.entry_index, log.entry_count, [95.0], 20 * n
    )
    series = analysis.series.set_index(["s", "endpoint"])
    checked = 0
    for group in np.flatnonzero(totals):
        s, endpoint = float(group // n), analysis.endpoints[group % n]
        point = series.loc[(s, endpoint)]
        assert point["count"] == totals[group]
        assert point["p95"] == pytest.approx(exact[group, 0] / 1000, rel=0.01)  # 2 digits
        checked += 1
    assert checked == 20 * n
    overall = series.xs(OVERALL, level="endpoint")
    assert overall["count"].sum() == log.rows["count"].sum()
    assert (overall["failures"] > 0).all()
