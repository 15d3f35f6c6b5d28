"""The check language: what parses, what it means, and one-line errors with a column."""

from __future__ import annotations

import pytest

from loadkit.errors import CheckError
from loadkit.report.analysis import analyse
from loadkit.report.checks import parse_check
from loadkit.report.recovery import find_recoveries
from loadkit.report.verdicts import evaluate_checks
from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import SyntheticFault


@pytest.mark.parametrize(
    ("expression", "metric", "argument", "comparator", "limit", "phase"),
    [
        ("p95(POST /execute) < 250ms", "p95", "POST /execute", "<", 250.0, "run"),
        ("p99 < 1s", "p99", None, "<", 1000.0, "run"),
        ("p99.9<=1500us", "p99_9", None, "<=", 1.5, "run"),
        ("error_rate < 1%", "error_rate", None, "<", 0.01, "run"),
        (
            "error_rate(JOB echo) < 0.5% during steady",
            "error_rate",
            "JOB echo",
            "<",
            0.005,
            "stage:steady",
        ),
        ("error_rate < 5% during fault:slow-net", "error_rate", None, "<", 0.05, "fault:slow-net"),
        ("p95 < 2s after fault:gw-pause", "p95", None, "<", 2000.0, "after fault:gw-pause"),
        ("error_rate < 0.01 before faults", "error_rate", None, "<", 0.01, "before faults"),
        ("rate(POST /execute) > 50/s", "rate", "POST /execute", ">", 50.0, "run"),
        ("rate > 600/m", "rate", None, ">", 10.0, "run"),
        ("count(GET /x) >= 1000", "count", "GET /x", ">=", 1000.0, "run"),
        ("max(GET /x) != 2m", "max", "GET /x", "!=", 120_000.0, "run"),
        ("recovery(gw-pause) < 10s", "recovery", "gw-pause", "<", 10.0, "run"),
    ],
)
def test_valid_checks_parse(expression, metric, argument, comparator, limit, phase) -> None:
    check = parse_check(expression)
    assert (check.metric, check.argument, check.comparator, check.phase) == (
        metric,
        argument,
        comparator,
        phase,
    )
    assert check.limit == pytest.approx(limit)


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ("p95(POST /execute) < 250", 22, "needs a time unit"),
        ("p96 < 3ms", 1, "unknown metric 'p96'"),
        ("p95 << 3ms", 6, "expected a number"),
        ("p95 3ms", 5, "expected a comparison"),
        ("p95( < 3ms", 4, "never closed"),
        ("recovery < 3s", 10, "needs a fault name"),
        ("count > 5ms", 10, "plain number"),
        ("p95 < 3ms whenever", 11, "unexpected 'whenever'"),
        ("p95 < 3ms before steady", 18, "'before steady' is not a phase"),
        ("recovery(x) < 3s during steady", 31, "cannot take a phase"),
        ("", 1, "empty check"),
    ],
)
def test_malformed_checks_name_the_column_in_one_line(expression, column, words) -> None:
    with pytest.raises(CheckError) as caught:
        parse_check(expression)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"check '{expression}': column {column}: "), message
    assert words in message
    assert caught.value.exit_code == 2


def test_checks_evaluate_against_a_run(make_run) -> None:
    run_dir = make_run(
        "eval",
        duration_s=40,
        rate=300,
        median_ms={"POST /execute": 40.0},
        faults=[
            SyntheticFault(
                "slow",
                10,
                10,
                endpoints=("GET /status/[id]",),
                latency_factor=20,
                error_rate=0.5,
                recover_s=2,
            )
        ],
        stages=[(0, 10, "warmup"), (5, 20, None)],
    )
    analysis = analyse(load_run_dir(run_dir))
    recoveries = find_recoveries(analysis)
    expressions = [
        "p95(POST /execute) < 250ms",  # ~ 40 ms * e^(1.645*0.35) = 71 ms: passes
        "p95(POST /execute) < 20ms",  # fails
        "error_rate < 1% before faults",  # no errors before the fault: passes
        "error_rate(GET /status/[id]) < 10% during fault:slow",  # ~50 %: fails
        "error_rate(/responses/[id]) < 1% during fault:slow",  # untouched endpoint: passes
        "count >= 1000",
        "rate(POST /execute) > 1000/s",  # ~100/s: fails
        "recovery(slow) < 10s",
        "p99 < 1s during 1",  # the second stage (unnamed -> its index)
        "count > 0 during warmup",
    ]
    verdicts = evaluate_checks([(e, "command line") for e in expressions], analysis, recoveries)
    assert [v.passed for v in verdicts] == [
        True,
        False,
        True,
        False,
        True,
        True,
        False,
        True,
        True,
        True,
    ]
    failed = verdicts[1]
    assert failed.value is not None and failed.value > 20
    assert failed.value_text.endswith("ms") and failed.limit_text == "20ms"


def test_unknown_phases_and_faults_list_the_valid_ones(make_run) -> None:
    run_dir = make_run("names", duration_s=10, faults=[SyntheticFault("slow", 2, 2)])
    analysis = analyse(load_run_dir(run_dir))
    recoveries = find_recoveries(analysis)
    cases = {
        "p95 < 1s during fault:other": "column 10: unknown phase 'fault:other'; use one",
        "recovery(other) < 1s": "unknown fault 'other'; use one of: slow",
    }
    for expression, words in cases.items():
        with pytest.raises(CheckError) as caught:
            evaluate_checks([(expression, "command line")], analysis, recoveries)
        assert words in str(caught.value) and "\n" not in str(caught.value)
