"""What a check means when the run has nothing to measure, and the avg/min/stddev metrics.

Regression tests for issue 15: a check on something the run never produced used to
abort the whole report (exit 3, no summary, no JUnit).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadkit.errors import CheckError, ScenarioError
from loadkit.report.analysis import OVERALL, analyse
from loadkit.report.checks import parse_check, validate_names
from loadkit.report.recovery import find_recoveries
from loadkit.report.verdicts import evaluate_checks
from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import SyntheticFault
from loadkit.scenario.load import load_scenario


def _verdicts(run_dir: Path, *expressions: str, source: str = "command line") -> list:
    analysis = analyse(load_run_dir(run_dir))
    return evaluate_checks(
        [(e, source) for e in expressions],
        analysis,
        find_recoveries(analysis),
        lenient_sources=frozenset({"scenario"}),
    )


def test_check_on_an_endpoint_never_seen_fails_noted_no_samples(make_run) -> None:
    (verdict,) = _verdicts(make_run("typo", duration_s=5), "p95(GET /nonexistent) < 1s")
    assert (verdict.passed, verdict.skipped, verdict.status) == (False, False, "fail")
    assert verdict.value is None and verdict.value_text == "no samples"
    assert "no samples" in verdict.note


@pytest.mark.parametrize(
    "expression",
    ["rate(GET /nonexistent) < 1000/s", "error_rate(GET /nonexistent) < 1%", "avg(GET /x) < 1s"],
)
def test_rate_and_error_rate_with_no_samples_fail_too(make_run, expression: str) -> None:
    (verdict,) = _verdicts(make_run("typo", duration_s=5), expression)
    assert verdict.status == "fail" and "no samples" in verdict.note


def test_count_of_events_that_never_happened_is_zero(make_run) -> None:
    run_dir = make_run("zero", duration_s=5)
    passing, failing = _verdicts(
        run_dir, "failures(WS notify order) == 0", "count(WS notify order) > 0"
    )
    assert passing.passed and passing.value == 0.0 and passing.value_text == "0"
    assert not failing.passed and failing.value == 0.0


def test_optional_check_with_no_samples_is_skipped(make_run) -> None:
    run_dir = make_run("optional", duration_s=5)
    skipped, measured = _verdicts(
        run_dir, "optional: p95(WS notify) < 1s", "optional: p95(POST /execute) < 1ms"
    )
    assert skipped.status == "skip" and skipped.passed and skipped.skipped
    assert measured.status == "fail"  # optional only matters when there is nothing to measure


def test_scenario_check_on_a_phase_the_run_never_reached_fails_without_aborting(
    make_run,
) -> None:
    run_dir = make_run("early", duration_s=5, faults=[SyntheticFault("slow", 1, 1)])
    phase, fault, optional = _verdicts(
        run_dir,
        "failures == 0 during steady",  # a count: 0 would pass, but the phase never ran
        "recovery(ghost) < 10s",
        "optional: p95 < 1s during fault:ghost",
        source="scenario",
    )
    assert phase.status == "fail" and "never reached" in phase.note
    assert fault.status == "fail" and "never reached" in fault.note
    assert optional.status == "skip"


def test_report_cli_with_checks_on_things_never_produced_writes_everything(make_run, cli) -> None:
    run_dir = make_run(
        "cli",
        duration_s=5,
        checks=[
            "p95(GET /nonexistent) < 1s",
            "failures(WS notify order) == 0",
            "optional: p99(SESSION ready) < 5s",
            "p95 < 10s",
        ],
    )
    result = cli("report", str(run_dir))
    assert result.returncode == 1, result.stdout + result.stderr  # the no-samples check fails
    summary = json.loads((run_dir / "summary.json").read_text())
    statuses = [c["status"] for c in summary["checks"]]
    assert statuses == ["fail", "pass", "skip", "pass"]
    junit = (run_dir / "junit.xml").read_text()
    assert 'skipped="1"' in junit and 'failures="1"' in junit
    assert "SKIP  optional: p99(SESSION ready) < 5s" in result.stdout


def test_validate_names_rejects_unknown_phases_and_faults_before_the_run() -> None:
    stages, faults = ["warmup", "1"], ["gw-pause"]
    for good in (
        "p95 < 1s during warmup",
        "p95 < 1s during 1",
        "recovery(gw-pause) < 10s",
        "p95 < 1s after fault:gw-pause",
        "p95 < 1s during fault:gw-pause",
        "p95(GET /anything) < 1s",  # endpoints are only known after the run
    ):
        validate_names(parse_check(good), stages=stages, faults=faults)
    cases = {
        "p95 < 1s during nowhere": "column 10: unknown phase 'nowhere'; use one of: warmup, 1",
        "recovery(ghost) < 10s": "column 10: unknown fault 'ghost'; use one of: gw-pause",
        "p95 < 1s after fault:ghost": "unknown fault 'ghost'",
        "p95 < 1s during fault:ghost": "unknown fault 'ghost'",
    }
    for expression, words in cases.items():
        with pytest.raises(CheckError) as caught:
            validate_names(parse_check(expression), stages=stages, faults=faults)
        assert words in str(caught.value) and "\n" not in str(caught.value)
        assert caught.value.exit_code == 2
    with pytest.raises(CheckError, match="injects no fault"):
        validate_names(parse_check("p95 < 1s before faults"), stages=None, faults=[])
    # stages unknown before the run (None): stage names are not checked
    validate_names(parse_check("p95 < 1s during anything"), stages=None, faults=[])


def test_optional_prefix_parses() -> None:
    check = parse_check("optional: p95(WS notify) < 1s during steady")
    assert check.optional and check.metric == "p95" and check.argument == "WS notify"
    assert not parse_check("p95 < 1s").optional
    with pytest.raises(CheckError, match="empty check after 'optional:'"):
        parse_check("optional:  ")


def _merged_reference(run_dir: Path, endpoint: str) -> HdrHistogram:
    merged = HdrHistogram(1, 3_600_000_000, 3)
    for line in (run_dir / "latency.hlog").read_text().splitlines():
        if line.startswith("Tag="):
            tag, *_, payload = line.split(",")
            if endpoint == OVERALL or tag.endswith(endpoint.replace(" ", "%20")):
                merged.add(HdrHistogram.decode(payload))
    return merged


@pytest.mark.parametrize("endpoint", ["POST /execute", OVERALL])
def test_avg_min_stddev_agree_with_hdrhistogram(make_run, endpoint: str) -> None:
    run_dir = make_run("moments", duration_s=20, rate=200, error_rate=0.05)
    analysis = analyse(load_run_dir(run_dir))
    reference = _merged_reference(run_dir, endpoint)
    assert analysis.stat("run", endpoint, "avg") == pytest.approx(
        reference.get_mean_value() / 1000.0, rel=1e-9
    )
    assert analysis.stat("run", endpoint, "stddev") == pytest.approx(
        reference.get_stddev() / 1000.0, rel=1e-6
    )
    lowest = reference.get_value_at_percentile(0.0)
    assert analysis.stat("run", endpoint, "min") == pytest.approx(lowest / 1000.0, rel=1e-9)
    (avg, low, spread) = _verdicts(
        run_dir,
        f"avg{'' if endpoint == OVERALL else f'({endpoint})'} < 1s",
        "min < 1s",
        "stddev > 0ms",
    )
    assert avg.passed and low.passed and spread.passed
    assert not math.isnan(np.float64(avg.value))


SCENARIO = """\
name: typos
target: http://127.0.0.1:9
users: {WorkspaceUser: 1}
stages:
  - {name: warmup, duration: 2s, users: 1, spawn_rate: 1}
  - {duration: 2s, users: 1}
faults:
  - {name: gw-pause, at: 1s, for: 1s, kind: app-latency, via: http, path: /execute, latency: 5ms}
checks:
  - p95 < 1s during warmup
  - p95 < 1s during 1
  - p95(GET /anything) < 1s
  - failures(WS notify order) == 0
CHECK
"""


@pytest.mark.parametrize(
    ("check", "words"),
    [
        ("p95 < 1s during nowhere", "unknown phase 'nowhere'; use one of: warmup, 1"),
        ("recovery(ghost) < 10s", "unknown fault 'ghost'; use one of: gw-pause"),
        ("error_rate < 1% after fault:ghost", "unknown fault 'ghost'"),
    ],
)
def test_run_rejects_unknown_phases_and_faults_before_anything_starts(
    tmp_path, real_cli, check: str, words: str
) -> None:
    """Regression (issue 15): `during nowhere` ran the whole load, then exited 3."""
    scenario = tmp_path / "typos.yaml"
    scenario.write_text(SCENARIO.replace("CHECK", f"  - {check}"))
    started = time.monotonic()
    proc = real_cli("run", str(scenario), "--out", str(tmp_path / "reports"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and words in err, err
    assert f"{scenario}:14: checks[4]: " in err, err
    assert not (tmp_path / "reports").exists()  # nothing started
    assert time.monotonic() - started < 60


def test_plain_locust_rejects_unknown_phases_before_anything_starts(tmp_path) -> None:
    """Regression (issue 15): the same validation in ``locust -f ... --loadkit-scenario X``."""
    scenario = tmp_path / "typos.yaml"
    scenario.write_text(SCENARIO.replace("CHECK", "  - p95 < 1s during nowhere"))
    locustfile = Path(__file__).parents[2] / "locustfiles" / "workspace.py"
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-t", "30s",
         "--host", "http://127.0.0.1:9", "--loadkit-scenario", str(scenario),
         "--loadkit-out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    ours = [line for line in proc.stderr.splitlines() if line.startswith("loadkit")]
    assert ours == [
        f"loadkit: error: {scenario}:14: checks[4]: unknown phase 'nowhere'; use one of: warmup, 1"
    ], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())  # no test started: no run dir


def test_optional_check_written_as_yaml_mapping_is_one_check(tmp_path) -> None:
    """``- optional: p95(X) < 1s`` unquoted is a YAML mapping: it is the optional check."""
    scenario = tmp_path / "optional.yaml"
    scenario.write_text(SCENARIO.replace("CHECK", "  - optional: p99(SESSION ready) < 5s"))
    loaded = load_scenario(scenario)
    assert loaded.checks[-1] == "optional: p99(SESSION ready) < 5s"
    assert parse_check(loaded.checks[-1]).optional
    scenario.write_text(SCENARIO.replace("CHECK", "  - {p95: 1s}"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario)
    assert f"{scenario}:14: checks[4]: {{'p95': '1s'}} is not a check expression" in str(
        caught.value
    )


REAL = """\
name: never-produced
target: builtin
users: {WorkspaceUser: 1}
stages:
  - {name: steady, duration: 4s, users: 1, spawn_rate: 1}
checks:
  - p95(GET /nonexistent) < 1s
  - failures(WS notify order) == 0
  - optional: p99(SESSION ready) < 5s
  - count > 0
"""


def test_real_run_with_checks_on_things_never_produced_reports_everything(
    tmp_path, real_cli
) -> None:
    """Regression (issue 15): a typo'd endpoint or a failure-only event ran the whole load,
    then exited 3 with no summary, no report and no JUnit."""
    scenario = tmp_path / "never.yaml"
    scenario.write_text(REAL)
    proc = real_cli("run", str(scenario), "--out", str(tmp_path / "reports"))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the no-samples check fails
    assert "FAIL  p95(GET /nonexistent) < 1s: no samples" in proc.stdout
    assert "PASS  failures(WS notify order) == 0: 0" in proc.stdout
    assert "SKIP  optional: p99(SESSION ready) < 5s" in proc.stdout
    (run_dir,) = (tmp_path / "reports").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["status"] for c in summary["checks"]] == ["fail", "pass", "skip", "pass"]
    assert (run_dir / "report.html").stat().st_size > 0
    junit = (run_dir / "junit.xml").read_text()
    assert 'failures="1"' in junit and 'skipped="1"' in junit


def test_load_override_refuses_checks_on_stages_it_removes(tmp_path, real_cli) -> None:
    """``--users/--duration`` (``-u`` in plain Locust) replace the stages with one: a check
    ``during warmup`` would run the whole load, then fail 'never reached'. Exit 2 at once."""
    scenario = tmp_path / "override.yaml"
    scenario.write_text(SCENARIO.replace("CHECK", ""))
    out = tmp_path / "reports"
    proc = real_cli("run", str(scenario), "--users", "1", "--duration", "2s", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert (
        f"{scenario}: checks[0]: 'p95 < 1s during warmup' names the stage 'warmup', but "
        "--users/--spawn-rate/--duration replace the scenario's stages with one" in err
    ), err
    assert not out.exists()
    locustfile = Path(__file__).parents[2] / "locustfiles" / "workspace.py"
    plain = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "1",
         "-t", "30s", "--host", "http://127.0.0.1:9", "--loadkit-scenario", str(scenario),
         "--loadkit-out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert plain.returncode == 2, plain.stdout + plain.stderr
    assert "checks[0]: 'p95 < 1s during warmup' names the stage 'warmup', but -u/-r/-t" in (
        plain.stderr
    )
    assert not out.exists() or not any(out.iterdir())
