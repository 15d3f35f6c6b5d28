"""The self-contained HTML report (and comparison page): Jinja2 with autoescaping.

Every string that comes from the target or the scenario (endpoint names, fault
names, hosts, notes) goes through Jinja2's autoescape; figures are embedded as
base64 PNG, so the file has no external references.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from loadkit import __version__
from loadkit.report.analysis import OVERALL, Analysis
from loadkit.report.audit import audit_section, read_audit_summary
from loadkit.report.baseline import BaselineDiff
from loadkit.report.plots import comparison_plot, composite_plots, report_plots
from loadkit.report.probes import probe_plots, samples_of
from loadkit.report.report import Report
from loadkit.rundir.layout import REPORT_HTML

__all__ = ["render_comparison", "render_report", "warm_up", "write_html"]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ms(value: Any) -> str:
    if _missing(value):
        return "–"
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:.1f} ms"


def _pct(value: Any) -> str:
    return "–" if _missing(value) else f"{value * 100:.2f}%"


def _num(value: Any) -> str:
    return "–" if _missing(value) else f"{value:,.0f}"


def _rate(value: Any) -> str:
    return "–" if _missing(value) else f"{value:,.1f}/s"


def _duration(seconds: Any) -> str:
    if _missing(seconds):
        return "–"
    minutes, secs = divmod(float(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02.0f}s"
    return f"{minutes}m{secs:04.1f}s" if minutes else f"{secs:.1f}s"


def _utc(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "unknown"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _metric(value: Any, metric: str) -> str:
    if metric == "error_rate":
        return _pct(value)
    if metric == "rate":
        return _rate(value)
    if metric == "count":
        return _num(value)
    return _ms(value)


@functools.cache
def _environment() -> Environment:
    """One per process: its templates are compiled once (report.html takes ~20 ms; in
    ``loadkit run`` during the load, by :func:`warm_up`)."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ms=_ms, pct=_pct, num=_num, rate=_rate, duration=_duration, utc=_utc, metric=_metric
    )
    env.globals.update(loadkit_version=__version__)
    return env


def _now() -> str:
    return dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def warm_up() -> None:
    """Compile the report's template now, not when the report is written."""
    _environment().get_template("report.html")


def render_report(report: Report) -> str:
    summary = report.summary
    analysis = report.analysis
    endpoints = [*summary["endpoints"].items(), (f"{OVERALL} (all requests)", summary["overall"])]
    phases = [
        (p, {m: analysis.stat(p.name, OVERALL, m) for m in analysis.stats.columns})
        for p in analysis.phases
    ]
    faults = list(zip(analysis.faults, report.recoveries, strict=True))
    return (
        _environment()
        .get_template("report.html")
        .render(
            generated_at=_now(),
            run=summary["run"],
            passed=report.passed,
            overall=summary["overall"],
            checks=report.verdicts,
            baseline=report.baseline,
            plots=report_plots(analysis),
            composite_plots=composite_plots(analysis),
            probe_plots=probe_plots(analysis, samples_of(analysis)),
            audit=audit_section(read_audit_summary(analysis.run.path)),
            endpoints=endpoints,
            composite=list(summary["composite"].items()),
            phases=phases,
            faults=faults,
            drift=report.drift,
            notes=summary["warnings"],
            failures=report.failures,
        )
    )


def write_html(report: Report, out: Path) -> Path:
    path = out / REPORT_HTML
    path.write_text(render_report(report), encoding="utf-8")
    return path


def render_comparison(
    first: Analysis, second: Analysis, diffs: list[BaselineDiff], labels: tuple[str, str]
) -> str:
    regressions = [d for d in diffs if d.status == "regression" and d.gated]
    return (
        _environment()
        .get_template("compare.html")
        .render(
            generated_at=_now(),
            first=labels[0],
            second=labels[1],
            diffs=diffs,
            regressions=regressions,
            plot=comparison_plot(first, second, labels),
        )
    )
