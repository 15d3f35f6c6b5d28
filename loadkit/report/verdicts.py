"""Evaluate parsed checks against an analysed run: one verdict per check."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from loadkit.errors import CheckError
from loadkit.report.analysis import OVERALL, Analysis
from loadkit.report.checks import LATENCY_METRICS, Check, parse_check
from loadkit.report.recovery import Recovery

__all__ = ["Verdict", "evaluate_checks", "format_value"]


@dataclass(frozen=True)
class Verdict:
    expression: str
    passed: bool
    value: float | None  # ms, s (recovery), fraction, /s or count; None when not measurable
    value_text: str
    limit_text: str
    note: str
    source: str  # "scenario" or "command line"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        if data["value"] is not None and math.isnan(data["value"]):
            data["value"] = None
        return data


def format_value(metric: str, value: float) -> str:
    """A measured value in the units people write checks in."""
    if math.isnan(value):
        return "no data"
    if metric in LATENCY_METRICS.values():
        return f"{value / 1000:.2f}s" if value >= 10_000 else f"{value:.1f}ms"
    if metric == "recovery":
        return f"{value:.1f}s"
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    if metric == "rate":
        return f"{value:.1f}/s"
    return f"{value:.0f}"


def _fail(check: Check, problem: str, fix: str, column: int | None = None) -> CheckError:
    return CheckError(
        problem,
        source=f"check '{check.expression}'",
        field=f"column {column or check.argument_column}",
        fix=fix,
    )


def _endpoint(check: Check, analysis: Analysis) -> str:
    if check.argument is None:
        return OVERALL
    if check.argument in analysis.endpoints:
        return check.argument
    wanted = check.argument.lower()
    close = [
        e
        for e in analysis.endpoints
        if e.lower() == wanted or e.split(" ", 1)[-1].lower() == wanted
    ]
    if len(close) == 1:
        return close[0]
    valid = ", ".join(analysis.endpoints) or "none: the run has no requests"
    raise _fail(check, f"unknown endpoint '{check.argument}'", f"use one of: {valid}")


def _phase(check: Check, analysis: Analysis) -> str:
    names = [phase.name for phase in analysis.phases]
    if check.phase in names:
        return check.phase
    valid = ", ".join(n.replace("stage:", "") if n.startswith("stage:") else n for n in names)
    raise _fail(check, f"unknown phase '{check.phase}'", f"use one of: {valid}", check.phase_column)


def _recovery_verdict(check: Check, recoveries: list[Recovery], source: str) -> Verdict:
    found = [r for r in recoveries if r.fault == check.argument]
    if not found:
        valid = ", ".join(r.fault for r in recoveries) or "none: the run injected no fault"
        raise _fail(check, f"unknown fault '{check.argument}'", f"use one of: {valid}")
    recovery = found[0]
    if recovery.recovery_s is None:
        note = recovery.note or "did not recover"
        return Verdict(
            check.expression, False, None, "did not recover", check.limit_text, note, source
        )
    passed = check.holds(recovery.recovery_s)
    text = format_value("recovery", recovery.recovery_s)
    return Verdict(
        check.expression, passed, recovery.recovery_s, text, check.limit_text, "", source
    )


def evaluate_check(
    check: Check, analysis: Analysis, recoveries: list[Recovery], source: str
) -> Verdict:
    if check.metric == "recovery":
        return _recovery_verdict(check, recoveries, source)
    endpoint = _endpoint(check, analysis)
    phase = _phase(check, analysis)
    value = analysis.stat(phase, endpoint, check.metric)
    if check.metric in ("count", "failures") and math.isnan(value):
        value = 0.0
    note = ""
    if math.isnan(value):
        note = f"no requests {'in ' + phase if phase != 'run' else 'in the run'}"
    return Verdict(
        check.expression,
        check.holds(value),
        None if math.isnan(value) else value,
        format_value(check.metric, value),
        check.limit_text,
        note,
        source,
    )


def evaluate_checks(
    expressions: list[tuple[str, str]],
    analysis: Analysis,
    recoveries: list[Recovery],
    *,
    lenient_sources: frozenset[str] = frozenset(),
) -> list[Verdict]:
    """Evaluate ``(expression, source)`` pairs.

    A check from a source in ``lenient_sources`` (the scenario's checks, on a run
    that did not finish) that names a phase, fault or endpoint the run never
    reached fails with a note instead of being an input error.
    """
    from loadkit.report.probes import evaluate_service_check
    from loadkit.report.servicechecks import parse_service_check

    verdicts = []
    for expression, source in expressions:
        service_check = parse_service_check(expression)  # probes and the audit
        if service_check is not None:
            verdicts.append(evaluate_service_check(service_check, analysis, source))
            continue
        check = parse_check(expression)
        try:
            verdicts.append(evaluate_check(check, analysis, recoveries, source))
        except CheckError as exc:
            if source not in lenient_sources:
                raise
            verdicts.append(
                Verdict(
                    check.expression,
                    False,
                    None,
                    "not measured",
                    check.limit_text,
                    f"the run ended early: {exc.problem}",
                    source,
                )
            )
    return verdicts
