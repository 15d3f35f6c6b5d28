"""Checks: a small expression language for pass/fail criteria (like k6 thresholds).

Grammar (hand-written tokenizer and parser, no ``eval``)::

    check     := [ "optional:" ] metric [ "(" argument ")" ] comparator limit [ qualifier ]
    metric    := p50 | p90 | p95 | p99 | p99.9 | max | min | avg | stddev
               | error_rate | rate | count | failures | recovery
    comparator:= "<" | "<=" | ">" | ">=" | "==" | "!="
    limit     := NUMBER [ unit ]      ms, s, us, m (latencies, recovery) · % (error_rate)
                                      · /s, /m (rate) · nothing (count, failures)
    qualifier := "during" PHASE | "after" "fault:"NAME | "before" "faults"

Examples: ``p95(POST /execute) < 250ms``, ``p99 < 1s`` (all endpoints),
``error_rate(JOB echo) < 0.5% during steady``, ``rate(POST /execute) > 50/s``,
``recovery(gw-pause) < 10s``. ``during steady`` is the stage named ``steady``;
``during fault:NAME`` a fault window; ``after fault:NAME`` from its revert to
the next fault. A latency or recovery limit needs its unit. ``recovery(NAME)``
counts from the fault's revert, or from its inject for a ``restart`` (whose
outage counts; see :mod:`loadkit.report.recovery`).

What a check means when the run has nothing to measure:

- ``count`` and ``failures`` of events that never happened are 0;
- a latency, ``error_rate`` or ``rate`` check with no samples *fails*, noted
  "no samples"; prefixed ``optional:`` (``optional: p95(WS notify) < 1s``) it is
  *skipped* instead. Endpoints are only known after the run, so an endpoint the
  run never saw is such a check, never an input error;
- phases and faults are known before the run: :func:`validate_names` checks
  them against the scenario (exit 2, one line, before anything starts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from loadkit.errors import CheckError
from loadkit.report.servicechecks import COMPARATORS, parse_service_check

__all__ = ["Check", "parse_check", "validate_names"]

LATENCY_METRICS = {
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p99_9",
    "max": "max",
    "min": "min",
    "avg": "avg",
    "stddev": "stddev",
}
METRICS = [*LATENCY_METRICS, "error_rate", "rate", "count", "failures", "recovery"]
_TIME_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RATE_UNITS = {"/s": 1.0, "/m": 1 / 60.0, "": 1.0}
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_PHASE_WORD = re.compile(r"[^\s]+")
OPTIONAL = "optional:"


@dataclass(frozen=True)
class Check:
    """A parsed check. ``limit`` is in ms (latency), s (recovery), a fraction, /s or a count."""

    expression: str
    metric: str  # a key of METRICS, latency ones normalised (p99.9 -> p99_9)
    argument: str | None  # endpoint, or fault name for recovery
    comparator: str
    limit: float
    limit_text: str
    phase: str  # "run", "before faults", "fault:X", "after fault:X", "stage:X"
    argument_column: int  # 1-based columns of the argument and the phase, for errors found later
    phase_column: int = 0
    optional: bool = False  # skipped, not failed, when there is nothing to measure

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and COMPARATORS[self.comparator](value, self.limit)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str, fix: str, at: int | None = None) -> CheckError:
        column = (self.pos if at is None else at) + 1
        return CheckError(problem, source=f"check '{self.text}'", field=f"column {column}", fix=fix)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_spaces()
        return self.pos >= len(self.text)

    def peek(self, literal: str) -> bool:
        self.skip_spaces()
        return self.text.startswith(literal, self.pos)

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self.skip_spaces()
        found = pattern.match(self.text, self.pos)
        if not found:
            return None
        self.pos = found.end()
        return found.group(0)

    def until(self, closing: str, opened_at: int) -> str:
        end = self.text.find(closing, self.pos)
        if end < 0:
            raise self.fail("'(' is never closed", f"add '{closing}' after the name", opened_at)
        raw = self.text[self.pos : end]
        self.pos = end + 1
        return raw.strip()


def _parse_limit(scanner: _Scanner, metric: str) -> tuple[float, str]:
    start = scanner.pos
    scanner.skip_spaces()
    start = scanner.pos
    negative = scanner.peek("-")
    if negative:
        scanner.pos += 1
    number = scanner.match(_NUMBER)
    if number is None:
        raise scanner.fail("expected a number", "write e.g. 250ms, 1%, 50/s or 1000")
    value = -float(number) if negative else float(number)
    unit_start = scanner.pos
    while scanner.pos < len(scanner.text) and not scanner.text[scanner.pos].isspace():
        scanner.pos += 1
    unit = scanner.text[unit_start : scanner.pos]
    text = scanner.text[start : scanner.pos]
    if metric in LATENCY_METRICS or metric == "recovery":
        if unit not in _TIME_UNITS:
            example = "10s" if metric == "recovery" else "250ms"
            problem = f"'{text}' needs a time unit" if not unit else f"unknown unit '{unit}'"
            raise scanner.fail(
                problem,
                f"write e.g. {example} (units: ms, s, us, m)",
                unit_start if unit else start,
            )
        millis = value * _TIME_UNITS[unit]
        return (millis / 1000.0 if metric == "recovery" else millis), text
    if metric == "error_rate":
        if unit == "%":
            return value / 100.0, text
        if unit == "":
            return value, text
        raise scanner.fail(
            f"unknown unit '{unit}' for error_rate", "write e.g. 1% or 0.01", unit_start
        )
    if metric == "rate":
        if unit in _RATE_UNITS:
            return value * _RATE_UNITS[unit], text
        raise scanner.fail(
            f"unknown unit '{unit}' for rate", "write e.g. 50/s or 3000/m", unit_start
        )
    if unit:
        raise scanner.fail(
            f"{metric} takes a plain number, not '{unit}'", "write e.g. 1000", unit_start
        )
    return value, text


def _parse_qualifier(scanner: _Scanner) -> str:
    scanner.skip_spaces()
    word_start = scanner.pos
    word = scanner.match(_WORD)
    if word not in ("during", "after", "before"):
        raise scanner.fail(
            f"unexpected '{scanner.text[word_start:].strip()}'",
            "end the check, or add 'during PHASE', 'after fault:NAME' or 'before faults'",
            word_start,
        )
    scanner.skip_spaces()
    name_start = scanner.pos
    name = scanner.match(_PHASE_WORD)
    if name is None:
        raise scanner.fail(f"'{word}' needs a phase", "write e.g. 'during steady'")
    if word == "before":
        if name != "faults":
            raise scanner.fail(
                f"'before {name}' is not a phase", "write 'before faults'", name_start
            )
        return "before faults"
    if word == "after":
        return "after " + (name if name.startswith("fault:") else f"fault:{name}")
    if name == "run" or name.startswith(("fault:", "stage:")):
        return name
    return f"stage:{name}"


def parse_check(expression: str) -> Check:
    """Parse one check expression or raise :class:`CheckError` naming the column.

    A check on probes or the audit (:mod:`loadkit.report.servicechecks`) parses
    there and comes back as a stand-in of metric ``service`` (evaluated by
    :func:`loadkit.report.probes.evaluate_service_check`, never here).
    """
    service = parse_service_check(expression)
    if service is not None:
        return Check(service.expression, "service", None, service.comparator, math.nan,
                     service.limit_text, "run", 1)  # fmt: skip
    scanner = _Scanner(expression)
    if scanner.at_end():
        raise scanner.fail("empty check", "write e.g. 'p95 < 250ms'")
    scanner.skip_spaces()
    optional = scanner.text.startswith(OPTIONAL, scanner.pos)
    if optional:
        scanner.pos += len(OPTIONAL)
        if scanner.at_end():
            raise scanner.fail("empty check after 'optional:'", "write e.g. 'optional: p95 < 1s'")
        scanner.skip_spaces()
    metric_start = scanner.pos
    metric = scanner.match(_WORD)
    if metric not in METRICS:
        raise scanner.fail(
            f"unknown metric '{metric or expression[metric_start:].split()[0]}'",
            f"use one of: {', '.join(METRICS)}",
            metric_start,
        )
    argument: str | None = None
    argument_column = scanner.pos + 1
    if scanner.peek("("):
        opened_at = scanner.pos
        scanner.pos += 1
        scanner.skip_spaces()
        argument_column = scanner.pos + 1
        argument = scanner.until(")", opened_at)
        if not argument:
            raise scanner.fail(
                "empty '()'", "name an endpoint such as 'POST /execute', or drop '()'"
            )
    if metric == "recovery" and argument is None:
        raise scanner.fail("recovery needs a fault name", "write e.g. recovery(gw-pause) < 10s")
    comparator_start = scanner.pos
    scanner.skip_spaces()
    comparator = next((c for c in ("<=", ">=", "==", "!=", "<", ">") if scanner.peek(c)), None)
    if comparator is None:
        raise scanner.fail(
            "expected a comparison",
            "use one of < <= > >= == !=",
            max(scanner.pos, comparator_start),
        )
    scanner.pos += len(comparator)
    limit, limit_text = _parse_limit(scanner, metric)
    phase = "run"
    phase_column = 0
    if not scanner.at_end():
        phase_column = scanner.pos + 1
        phase = _parse_qualifier(scanner)
        if metric == "recovery":
            raise scanner.fail("recovery cannot take a phase", "drop the 'during/after' part")
    if not scanner.at_end():
        raise scanner.fail(
            f"unexpected '{expression[scanner.pos :].strip()}'", "end the check here"
        )
    return Check(
        expression.strip(),
        LATENCY_METRICS.get(metric, metric),
        argument,
        comparator,
        limit,
        limit_text,
        phase,
        argument_column,
        phase_column,
        optional,
    )


def validate_names(check: Check, *, stages: Sequence[str] | None, faults: Sequence[str]) -> None:
    """Raise :class:`CheckError` when ``check`` names a phase or fault the scenario lacks.

    ``stages`` are the stage names (a stage without a name is its index, as in
    ``during 1``); None when they are not known before the run (nothing checked).
    """

    def fail(problem: str, valid: Sequence[str], what: str, column: int) -> CheckError:
        listed = ", ".join(valid) if valid else f"none: the scenario has no {what}"
        return CheckError(
            problem,
            source=f"check '{check.expression}'",
            field=f"column {column}",
            fix=f"use one of: {listed}",
        )

    if check.metric == "recovery" and check.argument not in faults:
        raise fail(f"unknown fault '{check.argument}'", faults, "faults", check.argument_column)
    phase = check.phase
    if phase == "before faults" and not faults:
        raise CheckError(
            "'before faults' but the scenario injects no fault",
            source=f"check '{check.expression}'",
            field=f"column {check.phase_column}",
            fix="drop 'before faults' or add a fault",
        )
    fault = phase.removeprefix("after ").removeprefix("fault:") if "fault:" in phase else None
    if fault is not None and fault not in faults:
        raise fail(f"unknown fault '{fault}'", faults, "faults", check.phase_column)
    if phase.startswith("stage:") and stages is not None:
        name = phase.removeprefix("stage:")
        if name not in stages:
            raise fail(f"unknown phase '{name}'", stages, "named stages", check.phase_column)
