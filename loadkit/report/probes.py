"""Probe samples in the report: reading ``probes.jsonl``, probe checks, and the charts.

The meaning of each check form is described in :mod:`loadkit.report.servicechecks`.
Every verdict here fails, never passes, when there is nothing to judge: a
field never seen in any sample ("never seen"), no value inside the phase
("no samples"), a fault that never happened or was never reverted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadkit.report.analysis import Analysis
from loadkit.report.servicechecks import ServiceCheck
from loadkit.report.verdicts import Verdict
from loadkit.rundir.jsonl import read_jsonl
from loadkit.rundir.layout import PROBES_JSONL

__all__ = [
    "ProbeSample",
    "evaluate_probe_check",
    "probe_plots",
    "read_samples",
    "samples_of",
    "skipped_samples",
]

MAX_SAMPLES = 1_000_000


@dataclass(frozen=True)
class ProbeSample:
    s: float  # seconds from the run start (when the answer arrived)
    probe: str
    ok: bool
    values: dict[str, Any]
    error: str | None


def read_samples(
    run_dir: Path, start_time: float, skipped: list[int] | None = None
) -> list[ProbeSample]:
    """The samples of a run in time order (bad lines skipped, their numbers appended to
    ``skipped`` when given; at most MAX_SAMPLES)."""
    samples: list[ProbeSample] = []
    bad: list[int] = [] if skipped is None else skipped
    for record in read_jsonl(run_dir / PROBES_JSONL, bad):
        t, probe, values = record.get("t"), record.get("probe"), record.get("values")
        if not isinstance(t, int | float) or isinstance(t, bool) or not isinstance(probe, str):
            bad.append(0)  # a JSON object without a time or a probe name
            continue
        error = record.get("error")
        samples.append(
            ProbeSample(
                float(t) - start_time,
                probe,
                record.get("ok") is True,
                values if isinstance(values, dict) else {},
                str(error) if error is not None else None,
            )
        )
        if len(samples) >= MAX_SAMPLES:
            break
    samples.sort(key=lambda sample: sample.s)
    return samples


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value) if not isinstance(value, str) else f'"{value}"'


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _same(a: Any, b: Any) -> bool:
    """Equality of a sample and a check value: numbers as numbers, else exactly."""
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return type(a) is type(b) and bool(a == b)


class _Judge:
    def __init__(self, check: ServiceCheck, source: str) -> None:
        self.check = check
        self.source = source

    def verdict(self, passed: bool, value: float | None, text: str, note: str = "") -> Verdict:
        check = self.check
        return Verdict(check.expression, passed, value, text, check.limit_text, note, self.source)

    def fail(self, text: str, note: str) -> Verdict:
        return self.verdict(False, None, text, note)


def _values(samples: Sequence[ProbeSample], check: ServiceCheck) -> list[tuple[float, Any]]:
    return [
        (s.s, s.values[check.field])
        for s in samples
        if s.probe == check.probe and check.field in s.values and s.values[check.field] is not None
    ]


def _window(check: ServiceCheck, analysis: Analysis) -> tuple[float, float] | None:
    for phase in analysis.phases:
        if phase.name == check.phase:
            return phase.start_s, phase.end_s
    return None


def _aggregate(name: str, numbers: list[float]) -> float:
    if name == "max":
        return max(numbers)
    if name == "min":
        return min(numbers)
    if name == "avg":
        return sum(numbers) / len(numbers)
    if name == "first":
        return numbers[0]
    if name == "last":
        return numbers[-1]
    return float(len(numbers))


def _edges(
    seen: list[tuple[float, Any]], start: float, end: float
) -> tuple[float | None, float | None]:
    """The numeric samples just outside a window: the last before it, the first after it."""
    before = [n for s, v in seen if s < start and (n := _number(v)) is not None]
    after = [n for s, v in seen if s > end and (n := _number(v)) is not None]
    return (before[-1] if before else None), (after[0] if after else None)


def _delta(
    check: ServiceCheck,
    judge: _Judge,
    values: list[float],
    edges: tuple[float | None, float | None],
    where: str,
) -> Verdict:
    """A counter's increase in a window, as far as the samples can tell.

    The samples inside give the least it can have been (last - first: what came between
    the window's start and its first sample, or its last sample and its end, is not
    seen); the samples just outside give the most (first after - last before). The check
    passes only if it holds at both, fails if it holds at neither, and otherwise fails
    as undetermined: a delta is never judged on the increase it happens to see.
    """
    least = values[-1] - values[0]
    before, after = edges
    most = (values[-1] if after is None else after) - (values[0] if before is None else before)
    note = f"{len(values)} sample(s) {where}"
    holds_least, holds_most = check.holds(least), check.holds(most)
    if holds_least == holds_most:
        text = _text(least) if most == least else f"{_text(least)} to {_text(most)}"
        return judge.verdict(holds_least, least, text, note)
    return judge.fail(
        f"{_text(least)} to {_text(most)}",
        f"between {_text(least)} and {_text(most)} at the probe's sampling ({note}): "
        "undetermined; sample more often (every:) or check over a longer phase",
    )


def _becomes(
    check: ServiceCheck, analysis: Analysis, seen: list[tuple[float, Any]], judge: _Judge
) -> Verdict:
    windows = [w for w in analysis.faults if w.name == check.fault]
    if not windows:
        return judge.fail("not measured", f"fault {check.fault} was never injected in this run")
    window = windows[-1]
    if not window.reverted:
        return judge.fail("not measured", f"fault {check.fault} was never reverted")
    after = [(s, v) for s, v in seen if s >= window.end_s]
    for s, value in after:
        if _same(value, check.value):
            took = s - window.end_s
            return judge.verdict(check.holds(took), took, f"{took:.2f}s")
    last = f"; last value {_text(after[-1][1])}" if after else "; no sample after it"
    return judge.fail(
        f"never {_text(check.value)}", f"not {_text(check.value)} after {check.fault}{last}"
    )


def evaluate_probe_check(
    check: ServiceCheck, analysis: Analysis, samples: Sequence[ProbeSample], source: str
) -> Verdict:
    """The verdict of one probe check (``value``, ``aggregate`` or ``becomes`` form)."""
    judge = _Judge(check, source)
    mine = [s for s in samples if s.probe == check.probe]
    seen = _values(samples, check)
    if not seen:
        errors = [s.error for s in mine if s.error]
        why = f"; last error: {errors[-1]}" if errors else ""
        return judge.fail(
            "never seen", f"{check.ref} had no value in {len(mine)} sample(s) of the run{why}"
        )
    if check.form == "becomes":
        return _becomes(check, analysis, seen, judge)
    window = _window(check, analysis)
    if window is None:
        return judge.fail("not measured", f"no phase '{check.phase}' in this run")
    start, end = window
    inside = [value for s, value in seen if start <= s <= end]
    where = "in the run" if check.phase == "run" else f"during {check.phase}"
    if not inside:
        return judge.fail("no samples", f"{check.ref} had no value {where}")
    if check.form == "value" and check.comparator in ("==", "!="):
        hit = any(_same(value, check.limit) for value in inside)
        distinct = sorted({_text(value) for value in inside})
        text = ", ".join(distinct[:6]) + (" ..." if len(distinct) > 6 else "")
        passed = hit if check.comparator == "==" else not hit
        return judge.verdict(passed, None, text, f"{len(inside)} sample(s) {where}")
    numbers = [_number(value) for value in inside]
    if any(n is None for n in numbers):
        bad = next(v for v, n in zip(inside, numbers, strict=True) if n is None)
        return judge.fail("not a number", f"{check.ref} had the value {_text(bad)} {where}")
    values = [n for n in numbers if n is not None]
    if check.form == "aggregate" and check.aggregate == "delta":
        return _delta(check, judge, values, _edges(seen, start, end), where)
    if check.form == "aggregate":
        value = _aggregate(str(check.aggregate), values)
    else:  # every sample must satisfy it: judge the extreme one
        value = max(values) if check.comparator in ("<", "<=") else min(values)
    return judge.verdict(
        check.holds(value), value, _text(value), f"{len(values)} sample(s) {where}"
    )


def _field_axis(ax: Any, mine: list[ProbeSample], field: str) -> None:
    points = [(s.s, s.values.get(field)) for s in mine if s.values.get(field) is not None]
    numeric = all(_number(v) is not None for _, v in points)
    if numeric:
        ax.plot([s for s, _ in points], [_number(v) for _, v in points], marker=".", linewidth=1)
    else:  # text values (states): one row per distinct value
        labels = sorted({str(v) for _, v in points})
        rows = {label: i for i, label in enumerate(labels)}
        ys = [rows[str(v)] for _, v in points]
        ax.step([s for s, _ in points], ys, where="post", linewidth=1.2)
        ax.scatter([s for s, _ in points], ys, s=6)
        ax.set_yticks(range(len(labels)), labels)
    failed = [s.s for s in mine if not s.ok]
    if failed:
        ax.scatter(failed, [0] * len(failed), marker="x", color="#dc2626", s=14, label="no answer")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.set_ylabel(field)


def probe_plots(analysis: Analysis, samples: Sequence[ProbeSample]) -> list[Any]:
    """One chart per probe (a row per field) on the run's time axis, fault windows shaded."""
    from loadkit.report.plots import Plot, _encode, _figure, _shade_faults

    plots = []
    for name in sorted({s.probe for s in samples}):
        mine = [s for s in samples if s.probe == name]
        fields = sorted({f for s in mine for f, v in s.values.items() if v is not None})
        figure, axes = _figure(rows=max(1, len(fields)), height=2.4)
        for ax, field in zip(axes, fields or ["(no value)"], strict=False):
            _field_axis(ax, mine, field)
            _shade_faults(ax, list(analysis.faults))
            ax.set_xlim(0, max(analysis.run.end_s, 1.0))
        axes[-1].set_xlabel("time since start (s)")
        title = f"Probe {name}"
        plots.append(Plot(f"probe-{name}", title, _encode(figure), title))
    return plots


def samples_of(analysis: Analysis) -> list[ProbeSample]:
    """The run's probe samples, read once per analysis."""
    cached = analysis.extras.get("probes.samples")
    if not isinstance(cached, list):
        skipped: list[int] = []
        cached = read_samples(analysis.run.path, analysis.run.start_time, skipped)
        analysis.extras["probes.samples"] = cached
        analysis.extras["probes.skipped"] = len(skipped)
    return cached


def skipped_samples(analysis: Analysis) -> int:
    """How many lines of ``probes.jsonl`` were skipped (torn, malformed)."""
    samples_of(analysis)
    skipped = analysis.extras.get("probes.skipped")
    return skipped if isinstance(skipped, int) else 0


def evaluate_service_check(check: ServiceCheck, analysis: Analysis, source: str) -> Verdict:
    """The verdict of a probe or audit check (see :mod:`loadkit.report.servicechecks`)."""
    if check.form == "audit":
        from loadkit.report.audit import evaluate_audit_check, read_audit_summary

        return evaluate_audit_check(check, read_audit_summary(analysis.run.path), source)
    return evaluate_probe_check(check, analysis, samples_of(analysis), source)
