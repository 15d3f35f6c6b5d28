"""Build a run's report: analysis, recoveries, checks, baseline diff, drift -> summary.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from loadkit.errors import BaselineError
from loadkit.report.analysis import OVERALL, STAT_COLUMNS, Analysis, analyse
from loadkit.report.baseline import (
    DEFAULT_TOLERANCES,
    BaselineDiff,
    Tolerance,
    compare_to_baseline,
    load_baseline,
    resolve_baseline,
    snapshot,
)
from loadkit.report.drift import soak_drift
from loadkit.report.recovery import Recovery, find_recoveries
from loadkit.report.verdicts import Verdict, evaluate_checks
from loadkit.rundir.layout import SUMMARY_JSON
from loadkit.rundir.reader import load_run_dir

__all__ = ["BaselineResult", "Report", "build_report", "write_summary"]

SCENARIO, COMMAND_LINE = "scenario", "command line"


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
        "overall": _stats_json(analysis, "run", OVERALL),
        "endpoints": {e: _stats_json(analysis, "run", e) for e in analysis.endpoints},
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
    name = requested or analysis.run.meta.get("baseline")
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


def build_report(
    run_dir: Path,
    *,
    extra_checks: list[str] | None = None,
    baseline: str | None = None,
    baseline_dir: Path = Path("reports/baselines"),
    tolerances: dict[str, Tolerance] | None = None,
) -> Report:
    """Analyse ``run_dir``, evaluate its checks and baseline (ConfigError on bad input)."""
    run = load_run_dir(run_dir)
    analysis = analyse(run)
    recoveries = find_recoveries(analysis)
    scenario_checks = run.meta.get("checks") or []
    if not isinstance(scenario_checks, list):
        scenario_checks = []
    expressions = [(str(c), SCENARIO) for c in scenario_checks]
    expressions += [(c, COMMAND_LINE) for c in extra_checks or []]
    finished = run.meta.get("exit_status") == "ok"
    lenient = frozenset() if finished else frozenset({SCENARIO})
    verdicts = evaluate_checks(expressions, analysis, recoveries, lenient_sources=lenient)
    notes: list[str] = []
    compared = _baseline(analysis, baseline, baseline_dir, tolerances or DEFAULT_TOLERANCES, notes)
    return Report(analysis, recoveries, verdicts, soak_drift(analysis), compared, notes)
