"""Build a run's report: analysis, recoveries, checks, baseline diff, drift -> summary.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from loadkit.errors import BaselineError, CheckError, RunDirError
from loadkit.report.analysis import OVERALL, STAT_COLUMNS, Analysis, analyse
from loadkit.report.audit import read_audit_summary
from loadkit.report.baseline import (
    DEFAULT_TOLERANCES,
    BaselineDiff,
    Tolerance,
    compare_to_baseline,
    load_baseline,
    resolve_baseline,
    snapshot,
)
from loadkit.report.checks import parse_check
from loadkit.report.drift import soak_drift
from loadkit.report.failures import read_failures
from loadkit.report.recovery import Recovery, find_recoveries
from loadkit.report.stream import stream_latency
from loadkit.report.verdicts import Verdict, evaluate_checks
from loadkit.rundir.layout import AUDIT_JSON, PROBES_JSONL, RUN_JSON, SUMMARY_JSON
from loadkit.rundir.reader import load_run_dir

__all__ = ["BaselineResult", "Report", "build_report", "write_summary"]

SCENARIO, COMMAND_LINE = "scenario", "command line"
INTACT = "run directory intact"  # the verdict a damaged run directory fails
INTACT_SOURCE = "run directory"


@dataclass
class BaselineResult:
    name: str
    path: str
    diffs: list[BaselineDiff]

    @property
    def regressions(self) -> list[BaselineDiff]:
        return [d for d in self.diffs if d.status == "regression" and d.gated]

    @property
    def improvements(self) -> list[BaselineDiff]:
        return [d for d in self.diffs if d.status == "improvement" and d.gated]


@dataclass
class Report:
    analysis: Analysis
    recoveries: list[Recovery]
    verdicts: list[Verdict]
    drift: dict[str, Any]
    baseline: BaselineResult | None = None
    notes: list[str] = field(default_factory=list)
    failures: dict[str, Any] | None = None  # failures.json, checked (None: absent or damaged)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The content of summary.json (computed once)."""
        return summary_json(self)

    @property
    def passed(self) -> bool:
        regressions = self.baseline.regressions if self.baseline else []
        return all(v.passed for v in self.verdicts) and not regressions


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def _stats_json(analysis: Analysis, phase: str, endpoint: str) -> dict[str, Any]:
    return {column: _clean(analysis.stat(phase, endpoint, column)) for column in STAT_COLUMNS}


def _run_json(analysis: Analysis) -> dict[str, Any]:
    meta = analysis.run.meta
    keys = (
        "run_id",
        "name",
        "host",
        "scenario_file",
        "locustfile",
        "started_at",
        "stopped_at",
        "exit_status",
        "exit_code",
        "runner",
        "versions",
        "git_commit",
        "interval_s",
    )
    data = {key: meta.get(key) for key in keys}
    data["name"] = analysis.run.name
    data["duration_s"] = analysis.run.end_s
    return data


def summary_json(report: Report) -> dict[str, Any]:
    analysis = report.analysis
    return {
        "schema": 1,
        "verdict": "pass" if report.passed else "fail",
        "run": _run_json(analysis),
        "overall": _stats_json(analysis, "run", OVERALL),  # request events only
        "endpoints": {e: _stats_json(analysis, "run", e) for e in analysis.request_endpoints},
        "composite": {e: _stats_json(analysis, "run", e) for e in analysis.composite_endpoints},
        "phases": [
            {
                "name": p.name,
                "start_s": p.start_s,
                "end_s": p.end_s,
                "overall": _stats_json(analysis, p.name, OVERALL),
                "endpoints": {e: _stats_json(analysis, p.name, e) for e in analysis.endpoints},
            }
            for p in analysis.phases
            if p.name != "run"
        ],
        "faults": [vars(window) for window in analysis.faults],
        "recoveries": [r.to_json() for r in report.recoveries],
        "checks": [v.to_json() for v in report.verdicts],
        "baseline": None
        if report.baseline is None
        else {
            "name": report.baseline.name,
            "path": report.baseline.path,
            "regressions": len(report.baseline.regressions),
            "improvements": len(report.baseline.improvements),
            "diffs": [d.to_json() for d in report.baseline.diffs],
        },
        "drift": report.drift,
        "audit": read_audit_summary(analysis.run.path),
        "failures": report.failures,
        "warnings": analysis.run.warnings + report.notes,
    }


def write_summary(report: Report, out: Path) -> Path:
    path = out / SUMMARY_JSON
    text = json.dumps(report.summary, indent=2, default=_clean, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _baseline(
    analysis: Analysis,
    requested: str | None,
    directory: Path,
    tolerances: dict[str, Tolerance],
    notes: list[str],
) -> BaselineResult | None:
    explicit = requested is not None
    name = requested or analysis.run.baseline
    if not isinstance(name, str) or not name:
        return None
    path = resolve_baseline(name, directory)
    try:
        data = load_baseline(path)
    except BaselineError as exc:
        if explicit or path.exists():
            raise
        notes.append(f"no baseline compared: the scenario's baseline {exc}")
        return None
    diffs = compare_to_baseline(snapshot(analysis), data, tolerances)
    return BaselineResult(name, str(path), diffs)


def _composite_failure_note(analysis: Analysis, checks: list[str]) -> list[str]:
    """Failed composite events no check names: ALL (requests only) does not count them."""
    named = " ".join(checks)
    failed = {
        endpoint: analysis.stat("run", endpoint, "failures")
        for endpoint in analysis.composite_endpoints
        if endpoint not in named
    }
    failed = {e: n for e, n in failed.items() if n > 0 and not e.startswith("ITER ")}
    if not failed:
        return []
    listed = ", ".join(f"{e}: {n:.0f}" for e, n in sorted(failed.items()))
    example = next(iter(sorted(failed)))
    return [
        f"composite events failed ({listed}); they are not in ALL's error rate: check them "
        f"with e.g. 'failures({example}) == 0'"
    ]


def _probe_damage(analysis: Analysis, checks: list[str]) -> None:
    """Skipped lines of ``probes.jsonl``: a warning; damage when a check reads probes (a
    dropped sample may be the one that fails it) and the run finished, or more than the
    torn last line a kill leaves is missing."""
    from loadkit.report.probes import skipped_samples
    from loadkit.report.servicechecks import parse_service_check

    run = analysis.run
    if not (run.path / PROBES_JSONL).exists():
        return
    skipped = skipped_samples(analysis)
    if not skipped:
        return
    text = f"probes.jsonl: skipped {skipped} torn or malformed line(s)"
    run.warnings.append(text)
    probed = [c for c in checks if (found := parse_service_check(c)) and found.form != "audit"]
    if probed and (run.meta.get("exit_status") is not None or skipped > 1):
        run.damage.append(f"{text}; probe checks read it")


def _open_model_notes(analysis: Analysis) -> list[str]:
    """A note per open-model schedule whose iterations were dropped or interrupted."""
    notes = []
    for endpoint in analysis.composite_endpoints:
        kind, _, name = endpoint.partition(" ")
        for what, meaning in (
            ("dropped", "could not start on time (max_in_flight were running)"),
            ("interrupted", "were still running after the graceful stop"),
        ):
            if kind == "ITER" and name.endswith(f" {what}"):
                count = analysis.stat("run", endpoint, "count")
                schedule = name.removesuffix(f" {what}")
                notes.append(f"{count:.0f} iteration(s) of '{schedule}' {meaning}")
    return notes


def build_report(
    run_dir: Path,
    *,
    extra_checks: list[str] | None = None,
    baseline: str | None = None,
    baseline_dir: Path = Path("reports/baselines"),
    tolerances: dict[str, Tolerance] | None = None,
) -> Report:
    """Analyse ``run_dir``, evaluate its checks and baseline (ConfigError on bad input)."""
    for expression in extra_checks or []:
        parse_check(expression)  # bad input is found before the work
    run = load_run_dir(run_dir, read_latency=False)  # the latency log is streamed below
    for index, expression in enumerate(run.checks):
        try:
            parse_check(expression)
        except CheckError as exc:
            raise RunDirError(
                f"check {expression!r:.60} does not parse ({exc.problem})",
                source=str(run_dir / RUN_JSON),
                field=f"checks[{index}]",
                fix="rebuild run.json from a copy, or pass the checks with --check",
            ) from None
    analysis = analyse(run, stream_latency(run))
    recoveries = find_recoveries(analysis)
    expressions = [(c, SCENARIO) for c in run.checks]
    expressions += [(c, COMMAND_LINE) for c in extra_checks or []]
    # the scenario's checks were validated against the scenario before the run: a phase or
    # fault the run never reached is a failed check, never an abort after the run
    lenient = frozenset({SCENARIO})
    verdicts = evaluate_checks(expressions, analysis, recoveries, lenient_sources=lenient)
    _probe_damage(analysis, [c for c, _ in expressions])
    if run.damage:  # data that may hide failures was lost: the run cannot pass
        note = "; ".join(run.damage)
        verdicts.append(Verdict(INTACT, False, None, "damaged", "intact", note, INTACT_SOURCE))
    notes = _open_model_notes(analysis)
    notes += _composite_failure_note(analysis, [c for c, _ in expressions])
    compared = _baseline(analysis, baseline, baseline_dir, tolerances or DEFAULT_TOLERANCES, notes)
    failures, failure_warnings = read_failures(run.path)
    notes += failure_warnings
    if (run.path / AUDIT_JSON).exists() and read_audit_summary(run.path) is None:
        notes.append("audit.json is damaged (not a JSON object): audit checks fail 'not audited'")
    drift = soak_drift(analysis)
    return Report(analysis, recoveries, verdicts, drift, compared, notes, failures)
