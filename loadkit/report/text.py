"""The short text summary ``loadkit report`` prints: a table per endpoint and the verdicts."""

from __future__ import annotations

import math

from loadkit.report.analysis import OVERALL
from loadkit.report.checks import parse_check
from loadkit.report.report import INTACT_SOURCE, Report

__all__ = ["text_summary"]


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def text_summary(report: Report) -> str:
    analysis = report.analysis
    run = analysis.run
    lines = [f"run {run.name}  ({run.end_s:.0f}s, {run.meta.get('host') or 'unknown host'})"]
    width = max([len(e) for e in analysis.endpoints] + [len(OVERALL), 8])
    header = (
        f"  {'endpoint':<{width}} {'count':>9} {'rate/s':>8} {'errors':>7} "
        f"{'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  (ms)"
    )
    lines.append(header)
    rows = [*analysis.request_endpoints, OVERALL]
    if analysis.composite_endpoints:
        rows += ["", *analysis.composite_endpoints]
    for endpoint in rows:
        if not endpoint:
            lines.append("  composite events (jobs, sessions, iterations; not in ALL):")
            continue

        def stat(metric: str, endpoint: str = endpoint) -> float:
            return analysis.stat("run", endpoint, metric)

        error_rate = stat("error_rate")
        errors = "-" if math.isnan(error_rate) else f"{error_rate * 100:.2f}%"
        lines.append(
            f"  {endpoint:<{width}} {stat('count'):>9.0f} {stat('rate'):>8.1f} {errors:>7} "
            f"{_ms(stat('p50')):>8} {_ms(stat('p95')):>8} {_ms(stat('p99')):>8} "
            f"{_ms(stat('max')):>8}"
        )
    checked = {
        check.argument
        for check in (
            parse_check(v.expression) for v in report.verdicts if v.source != INTACT_SOURCE
        )
        if check.metric == "recovery"
    }
    for recovery in report.recoveries:
        if recovery.fault in checked:
            continue  # its check's line says it, with the time
        took = (
            f"{recovery.recovery_s:.1f}s"
            if recovery.recovery_s is not None
            else f"did not recover ({recovery.note})"
            if recovery.note
            else "did not recover"
        )
        lines.append(f"  recovery after {recovery.fault}: {took}")
    for trend in report.drift.get("trends", []):
        if trend["flagged"]:
            lines.append(
                f"  DRIFT {trend['series']}: {trend['slope_per_hour']:+.2f} "
                f"{trend['unit']}/h (p={trend['p_value']:.1g})"
            )
    for verdict in report.verdicts:
        mark = verdict.status.upper()
        note = f"  ({verdict.note})" if verdict.note else ""
        lines.append(
            f"  {mark}  {verdict.expression}: {verdict.value_text} "
            f"(limit {verdict.limit_text}){note}"
        )
    if report.baseline is not None:
        base = report.baseline
        lines.append(
            f"  baseline {base.name}: {len(base.regressions)} regression(s), "
            f"{len(base.improvements)} improvement(s)"
        )
        for diff in base.regressions + base.improvements:
            lines.append(
                f"    {diff.status.upper():<11} {diff.endpoint} {diff.metric}: "
                f"{diff.baseline:.4g} -> {diff.current:.4g} ({diff.change})"
            )
    for warning in run.warnings + report.notes:
        lines.append(f"  note: {warning}")
    lines.append(f"verdict: {'PASS' if report.passed else 'FAIL'}")
    return "\n".join(lines)
