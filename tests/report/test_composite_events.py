"""Request events and composite events (JOB, SESSION, ITER, SYNC, SERVICE) are kept apart.

Regression (issue 15): the headline p95 (106 ms) mixed whole jobs, bounded by the poll
interval, with single HTTP calls (POST /execute p95 was 5.5 ms); the "all endpoints"
chart saw-toothed between 300 and 850 ms for the same reason.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from loadkit.report.analysis import OVERALL, analyse, is_composite, is_count_only
from loadkit.report.plots import _endpoint_latency_plot, _top_endpoints
from loadkit.report.recovery import find_recoveries
from loadkit.report.verdicts import evaluate_checks
from loadkit.rundir.reader import load_run_dir

MIXED = ["POST /execute", "GET /status/[id]", "JOB echo", "SESSION ready cold", "ITER it"]
MEDIANS = {
    "POST /execute": 5.0,
    "GET /status/[id]": 3.0,
    "JOB echo": 300.0,
    "SESSION ready cold": 900.0,
    "ITER it": 400.0,
}


@pytest.fixture
def mixed(make_run):
    return make_run("mixed", endpoints=MIXED, median_ms=MEDIANS, duration_s=30, rate=300)


def test_composite_types() -> None:
    for name in ("JOB echo", "SESSION ready cold", "ITER it", "SYNC conflict", "SERVICE job run"):
        assert is_composite(name)
    for name in ("POST /execute", "WS notify task.created", "GET /x", "JOBS x", "job x"):
        assert not is_composite(name)


def test_all_row_and_series_aggregate_requests_only(mixed) -> None:
    analysis = analyse(load_run_dir(mixed))
    requests = ["POST /execute", "GET /status/[id]"]
    assert analysis.request_endpoints == sorted(requests)
    assert analysis.composite_endpoints == sorted(set(MIXED) - set(requests))
    total = sum(analysis.stat("run", e, "count") for e in requests)
    assert analysis.stat("run", OVERALL, "count") == total
    assert analysis.stat("run", OVERALL, "p99") < 50.0  # jobs (300 ms+) are not in it
    assert analysis.stat("run", OVERALL, "avg") < 10.0 < analysis.stat("run", "JOB echo", "avg")
    assert analysis.stat("run", OVERALL, "max") < analysis.stat("run", "JOB echo", "p50")
    overall = analysis.series[analysis.series["endpoint"] == OVERALL]
    assert overall["p99"].max() < 50.0
    per_slot = analysis.series[analysis.series["endpoint"].isin(requests)].groupby("s")["count"]
    assert overall.set_index("s")["count"].to_dict() == per_slot.sum().to_dict()
    # a composite endpoint keeps its own statistics and checks
    assert 250 < analysis.stat("run", "JOB echo", "p50") < 350
    (verdict,) = evaluate_checks(
        [("p50(JOB echo) > 250ms", "command line")], analysis, find_recoveries(analysis)
    )
    assert verdict.passed


def test_report_has_a_composite_section(mixed, cli) -> None:
    result = cli("report", str(mixed))
    assert result.returncode == 0, result.stderr
    summary = json.loads((mixed / "summary.json").read_text())
    assert set(summary["endpoints"]) == {"POST /execute", "GET /status/[id]"}
    assert set(summary["composite"]) == {"JOB echo", "SESSION ready cold", "ITER it"}
    html = (mixed / "report.html").read_text()
    assert 'id="composite"' in html and 'id="fig-composite-latency"' in html
    assert "composite events" in result.stdout
    composite_at = result.stdout.index("composite events")
    assert result.stdout.index("JOB echo") > composite_at > result.stdout.index("  ALL ")


def test_failed_composite_events_no_check_names_get_a_note(make_run, cli) -> None:
    run_dir = make_run(
        "jobs-fail", endpoints=MIXED, median_ms=MEDIANS, duration_s=10, error_rate=0.05,
        checks=["failures(SESSION ready cold) >= 0"],
    )  # fmt: skip
    result = cli("report", str(run_dir))
    note = next(line for line in result.stdout.splitlines() if "composite events failed" in line)
    assert "JOB echo: " in note and "SESSION" not in note.split(";")[0].split("(", 1)[1]
    assert "failures(JOB echo) == 0" in note


def test_dropped_iterations_are_a_count_with_no_latency(make_run, cli) -> None:
    """Dropped iterations (recorded at 0 µs, the only way an hlog carries a count) have no
    latency anywhere: no 0 ms percentiles in the stats, summary, console or charts."""
    dropped = "ITER it dropped"
    run_dir = make_run(
        "drops", endpoints=[*MIXED, dropped], median_ms={**MEDIANS, dropped: 0.001}, duration_s=10
    )
    analysis = analyse(load_run_dir(run_dir))
    assert is_count_only(dropped) and not is_count_only("ITER it")
    assert not is_count_only("ITER it interrupted") and not is_count_only("POST /dropped")
    assert analysis.stat("run", dropped, "count") > 0
    for metric in ("p50", "p95", "p99", "max", "min", "avg", "stddev"):
        assert np.isnan(analysis.stat("run", dropped, metric)), metric
        assert analysis.stat("run", "ITER it", metric) > 0, metric
    rows = analysis.series[analysis.series["endpoint"] == dropped]
    assert len(rows) and rows[["p50", "p95", "p99"]].isna().all().all()
    assert dropped not in _top_endpoints(analysis, composite=True)
    result = cli("report", str(run_dir))
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith(dropped))
    assert line.split()[-4:] == ["-", "-", "-", "-"], line
    summary = json.loads((run_dir / "summary.json").read_text())["composite"][dropped]
    assert summary["count"] > 0 and summary["p50"] is None and summary["max"] is None


def test_an_event_between_two_empty_intervals_is_drawn(mixed) -> None:
    """Sessions every 2 s (one interval in two empty) were invisible: a line needs two
    neighbours. Each point gets a marker."""
    analysis = analyse(load_run_dir(mixed))
    series = analysis.series
    sparse = (series["endpoint"] == "SESSION ready cold") & (series["s"] % 2 == 1)
    analysis.series = series[~sparse]
    figure = _endpoint_latency_plot(analysis, composite=True)
    (line,) = (x for x in figure.axes[0].get_lines() if x.get_label() == "SESSION ready cold")
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(y[1::2]).all() and np.isfinite(y[::2]).all()  # isolated points
    assert line.get_marker() not in (None, "", "None", " ")
