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
    passed: bool  # True for a skipped check: it does not gate the verdict
    value: float | None  # ms, s (recovery), fraction, /s or count; None when not measurable
    value_text: str
    limit_text: str
    note: str
    source: str  # "scenario" or "command line"
    skipped: bool = False  # an optional check with nothing to measure

    @property
    def status(self) -> str:
        return "skip" if self.skipped else "pass" if self.passed else "fail"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        if data["value"] is not None and not math.isfinite(data["value"]):
            data["value"] = None
        data["status"] = self.status
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


class _NotMeasured(Exception):
    """The run has nothing to measure for a check (a note, never an input error)."""


def _endpoint(check: Check, analysis: Analysis) -> str | None:
    """The endpoint a check names (None: the run never saw it)."""
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
    return close[0] if len(close) == 1 else None


def _unknown_name(
    check: Check, problem: str, valid: list[str], column: int, strict: bool
) -> Exception:
    if not strict:
        return _NotMeasured(f"the run never reached it: {problem}")
    listed = ", ".join(valid) or "none"
    return _fail(check, problem, f"use one of: {listed}", column)


def _phase(check: Check, analysis: Analysis, strict: bool) -> str:
    names = [phase.name for phase in analysis.phases]
    if check.phase in names:
        return check.phase
    valid = [n.replace("stage:", "") if n.startswith("stage:") else n for n in names]
    raise _unknown_name(check, f"unknown phase '{check.phase}'", valid, check.phase_column, strict)


def _recovery_value(check: Check, recoveries: list[Recovery], strict: bool) -> tuple[float, str]:
    found = [r for r in recoveries if r.fault == check.argument]
    if not found:
        valid = [r.fault for r in recoveries]
        problem = f"unknown fault '{check.argument}'"
        raise _unknown_name(check, problem, valid, check.argument_column, strict)
    recovery = found[0]
    if recovery.recovery_s is None:
        return math.nan, recovery.note or "did not recover"
    return recovery.recovery_s, ""


_COUNTS = ("count", "failures")


def _measure(check: Check, analysis: Analysis, phase: str) -> float:
    endpoint = _endpoint(check, analysis)
    where = "in the run" if phase == "run" else f"in {phase}"
    if endpoint is None:
        if check.metric in _COUNTS:
            return 0.0  # events that never happened: none of them
        raise _NotMeasured(f"no samples: the run has no '{check.argument}' events")
    count = analysis.stat(phase, endpoint, "count")
    value = analysis.stat(phase, endpoint, check.metric)
    if check.metric in _COUNTS:
        return 0.0 if math.isnan(value) else value
    if math.isnan(count) or count <= 0 or math.isnan(value):
        raise _NotMeasured(f"no samples {where}")
    return value


def evaluate_check(
    check: Check,
    analysis: Analysis,
    recoveries: list[Recovery],
    source: str,
    *,
    strict: bool = True,
) -> Verdict:
    """One verdict. ``strict``: a phase or fault the run lacks is a :class:`CheckError`
    (bad input); otherwise, like anything else not measurable, a failed (or, for an
    optional check, skipped) verdict with a note."""
    try:
        note = ""
        if check.metric == "recovery":
            value, note = _recovery_value(check, recoveries, strict)
        else:
            value = _measure(check, analysis, _phase(check, analysis, strict))
    except _NotMeasured as missing:
        text = "not measured" if str(missing).startswith("the run never") else "no samples"
        return Verdict(
            check.expression,
            check.optional,
            None,
            text,
            check.limit_text,
            str(missing),
            source,
            skipped=check.optional,
        )
    text = (
        "did not recover"
        if check.metric == "recovery" and note
        else format_value(check.metric, value)
    )
    return Verdict(
        check.expression,
        check.holds(value),
        None if math.isnan(value) else value,
        text,
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

    A check from a source in ``lenient_sources`` (the scenario's checks, validated
    against the scenario before the run) that names a phase or fault the run never
    reached fails with a note instead of being an input error. A check that does
    not parse is an input error from any source.
    """
    return [
        evaluate_check(
            parse_check(expression),
            analysis,
            recoveries,
            source,
            strict=source not in lenient_sources,
        )
        for expression, source in expressions
    ]
