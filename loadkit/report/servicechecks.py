"""Checks on what the service itself says: probes and the loss audit.

Grammar (beside :mod:`loadkit.report.checks`; a check starting with
``probe(``, ``AGG(probe(`` or an audit count is one of these)::

    probe(NAME.FIELD) CMP VALUE [QUALIFIER]
    AGG(probe(NAME.FIELD)) CMP NUMBER [QUALIFIER]      AGG: max min avg first last delta count
    probe(NAME.FIELD) becomes VALUE within DURATION after [fault:]FAULT
    COUNT(KIND) CMP NUMBER[%]                          COUNT: accepted reached lost late
                                                         applied_twice missed out_of_order
    VALUE     := "text" | 'text' | NUMBER | true | false | null
    QUALIFIER := during PHASE | after [fault:]FAULT | before faults

Meaning:

- ``probe(b.state) == "open" during fault:gw-down``: some sample in the window
  had that value; ``!=``: no sample had it. ``<``, ``<=``, ``>``, ``>=``:
  every sample satisfies it (so ``probe(q.depth) < 100`` is ``max < 100``).
- ``max(probe(q.depth)) < 100``: an aggregate of the window's values;
  ``delta`` is a counter's increase: the last value minus the first, bounded by the
  samples just outside the window (what came between an edge and the nearest sample
  is not seen); it passes only if it holds for every increase the samples allow.
- ``becomes V within 30s after gw-down``: from the revert of ``gw-down`` to
  the first sample that has the value ``V``.
- ``lost(jobs) == 0``, ``late(jobs) < 1%`` (a share of the accepted items),
  ``missed(sync) == 0``: counts of the audit (``audit.json``).

A field that no sample ever had fails "never seen"; a window without a value
fails "no samples"; a run that was not audited fails "not audited": none of
them ever passes.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadkit.errors import CheckError, ConfigError, did_you_mean
from loadkit.units import parse_duration

__all__ = [
    "AGGREGATES",
    "AUDIT_COUNTS",
    "ServiceCheck",
    "parse_service_check",
    "validate_service_check",
]

AGGREGATES = ("max", "min", "avg", "first", "last", "delta", "count")
AUDIT_COUNTS = ("accepted", "reached", "lost", "late", "applied_twice", "missed", "out_of_order")
COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CMP = r"(?P<cmp><=|>=|==|!=|<|>)"
_REF = r"probe\(\s*(?P<probe>[A-Za-z0-9_-]+)\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*\)"
_VALUE = r"(?P<value>\"[^\"]*\"|'[^']*'|-?[0-9]+(?:\.[0-9]+)?|true|false|null)"
_QUAL = r"(?:\s+(?P<qual>(?:during|after|before)\s+\S+))?"
_FORMS = {
    "becomes": re.compile(
        rf"^\s*{_REF}\s+becomes\s+{_VALUE}\s+within\s+(?P<within>\S+)\s+after\s+(?P<fault>\S+)\s*$"
    ),
    "value": re.compile(rf"^\s*{_REF}\s*{_CMP}\s*{_VALUE}{_QUAL}\s*$"),
    "aggregate": re.compile(
        rf"^\s*(?P<agg>[a-z_]+)\(\s*{_REF}\s*\)\s*{_CMP}\s*(?P<number>-?[0-9]+(?:\.[0-9]+)?){_QUAL}\s*$"
    ),
    "audit": re.compile(
        rf"^\s*(?P<count>[a-z_]+)\(\s*(?P<kind>[A-Za-z0-9_-]+)\s*\)\s*{_CMP}\s*"
        rf"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<pct>%?)\s*$"
    ),
}
_STARTS = re.compile(
    rf"^\s*(?:probe\(|(?:{'|'.join(AGGREGATES)})\(\s*probe\(|(?:{'|'.join(AUDIT_COUNTS)})\()"
)


@dataclass(frozen=True)
class ServiceCheck:
    """A parsed probe or audit check."""

    expression: str
    form: str  # "value" | "aggregate" | "becomes" | "audit"
    comparator: str
    limit: Any  # str | float | bool | None (a probe value), a number, or seconds (becomes)
    limit_text: str
    probe: str | None = None
    field: str | None = None
    aggregate: str | None = None
    phase: str = "run"  # as the reporter names phases: run, fault:X, after fault:X, stage:X
    fault: str | None = None  # becomes ... after FAULT
    count: str | None = None  # audit count
    kind: str | None = None  # audit kind (jobs, sessions, sync)
    share: bool = False  # the limit is a share of the accepted items
    value: Any = None  # becomes: the value waited for

    @property
    def ref(self) -> str:
        return f"probe({self.probe}.{self.field})"

    def holds(self, value: Any) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        try:
            return bool(COMPARATORS[self.comparator](value, self.limit))
        except TypeError:
            return False


def _fail(expression: str, problem: str, fix: str) -> CheckError:
    return CheckError(problem, source=f"check '{expression}'", fix=fix)


def _value(text: str) -> Any:
    if text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    return float(text)


def _phase(expression: str, qualifier: str | None) -> str:
    if not qualifier:
        return "run"
    word, name = qualifier.split(None, 1)
    if word == "before":
        if name != "faults":
            raise _fail(expression, f"'before {name}' is not a phase", "write 'before faults'")
        return "before faults"
    if word == "after":
        return "after " + (name if name.startswith("fault:") else f"fault:{name}")
    if name == "run" or name.startswith(("fault:", "stage:")):
        return name
    return f"stage:{name}"


def parse_service_check(expression: str) -> ServiceCheck | None:
    """The probe or audit check of ``expression``; None when it is not one (CheckError if bad)."""
    if not isinstance(expression, str) or not _STARTS.match(expression):
        return None
    text = expression.strip()
    found = {form: pattern.match(text) for form, pattern in _FORMS.items()}
    if (m := found["becomes"]) is not None:
        try:
            within = parse_duration(m["within"])
        except ConfigError as exc:
            raise _fail(text, f"within {exc.problem}", exc.fix or "write e.g. 30s") from None
        return ServiceCheck(
            text,
            "becomes",
            "<=",
            within,
            m["within"],
            m["probe"],
            m["field"],
            fault=m["fault"].removeprefix("fault:"),
            value=_value(m["value"]),
        )
    if (m := found["value"]) is not None:
        value = _value(m["value"])
        if m["cmp"] not in ("==", "!=") and not isinstance(value, float):
            raise _fail(text, f"'{m['cmp']}' needs a number", "compare text with == or !=")
        return ServiceCheck(
            text,
            "value",
            m["cmp"],
            value,
            m["value"],
            m["probe"],
            m["field"],
            phase=_phase(text, m["qual"]),
        )
    if (m := found["aggregate"]) is not None and m["agg"] in AGGREGATES:
        return ServiceCheck(
            text,
            "aggregate",
            m["cmp"],
            float(m["number"]),
            m["number"],
            m["probe"],
            m["field"],
            aggregate=m["agg"],
            phase=_phase(text, m["qual"]),
        )
    if (m := found["audit"]) is not None and m["count"] in AUDIT_COUNTS:
        share = m["pct"] == "%"
        limit = float(m["number"]) / 100.0 if share else float(m["number"])
        return ServiceCheck(
            text,
            "audit",
            m["cmp"],
            limit,
            m["number"] + m["pct"],
            count=m["count"],
            kind=m["kind"],
            share=share,
        )
    if text.startswith(tuple(f"{c}(" for c in AUDIT_COUNTS)):
        fix = "write e.g. 'lost(jobs) == 0' or 'late(jobs) < 1%'"
    elif " becomes " in text:
        fix = "write e.g. 'probe(breaker.state) becomes \"closed\" within 30s after gw-down'"
    else:
        fix = (
            "write e.g. 'probe(breaker.state) == \"open\" during fault:gw-down' or "
            "'max(probe(queue.depth)) < 100'"
        )
    raise _fail(text, "not a probe or audit check", fix)


def validate_service_check(
    check: ServiceCheck,
    probes: Mapping[str, Sequence[str]],
    faults: Sequence[str],
    stages: Collection[str] | None = None,
) -> None:
    """Raise CheckError when ``check`` names a probe, field, fault or stage the scenario lacks."""
    if check.probe is not None:
        if check.probe not in probes:
            fix = did_you_mean(check.probe, probes) if probes else "add it under 'probes:'"
            raise _fail(check.expression, f"unknown probe '{check.probe}'", fix)
        fields = probes[check.probe]
        if check.field not in fields:
            raise _fail(
                check.expression,
                f"probe '{check.probe}' has no field '{check.field}'",
                did_you_mean(str(check.field), fields),
            )
    names = []
    if check.fault is not None:
        names.append(check.fault)
    if check.phase.startswith(("fault:", "after fault:")):
        names.append(check.phase.split("fault:", 1)[1])
    if stages is not None and check.phase.startswith("stage:"):
        stage = check.phase.removeprefix("stage:")
        if stage not in stages:
            fix = did_you_mean(stage, sorted(stages))
            raise _fail(check.expression, f"unknown phase '{stage}'", fix)
    for name in names:
        if name not in faults:
            fix = did_you_mean(name, faults) if faults else "add it under 'faults:'"
            raise _fail(check.expression, f"unknown fault '{name}'", fix)
