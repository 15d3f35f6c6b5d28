"""``loadkit report``, ``loadkit baseline`` and ``loadkit compare``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadkit.errors import EXIT_CHECKS_FAILED, EXIT_OK, RunDirError
from loadkit.rundir.layout import COMPARE_HTML

if TYPE_CHECKING:  # the command's imports stay lazy
    from loadkit.report.baseline import BaselineDiff

__all__ = ["register"]

DEFAULT_BASELINE_DIR = Path("reports/baselines")


def _report(args: argparse.Namespace) -> int:
    from loadkit.report.baseline import parse_tolerances
    from loadkit.report.html import write_html
    from loadkit.report.junit import write_junit
    from loadkit.report.report import build_report, write_summary
    from loadkit.report.text import text_summary

    tolerances = parse_tolerances(args.tolerance)
    out: Path = args.out or args.run_dir
    if args.out is not None:
        _out_folder(out)  # before the work: a bad --out is bad input, found at once
    report = build_report(
        args.run_dir,
        extra_checks=args.check,
        baseline=args.baseline,
        baseline_dir=args.baseline_dir,
        tolerances=tolerances,
    )
    _out_folder(out)
    try:
        written = [write_summary(report, out), write_html(report, out), write_junit(report, out)]
    except OSError as exc:
        raise RunDirError(
            f"cannot write the report ({exc.strerror})",
            source=str(out),
            field="--out",
            fix="choose a writable folder",
        ) from None
    print(text_summary(report))
    print("wrote " + ", ".join(str(path) for path in written))
    return EXIT_OK if report.passed else EXIT_CHECKS_FAILED


def _out_folder(out: Path) -> None:
    """Create ``out`` (a folder) or raise a one-line :class:`RunDirError`."""
    if out.exists() and not out.is_dir():
        raise RunDirError(
            "is a file, not a folder", source=str(out), field="--out", fix="pass a folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(
            f"cannot create it ({exc.strerror})",
            source=str(out),
            field="--out",
            fix="choose a writable folder",
        ) from None


def _baseline_save(args: argparse.Namespace) -> int:
    from loadkit.report.baseline import save_baseline
    from loadkit.report.stream import analyse_run_dir

    path = save_baseline(analyse_run_dir(args.run_dir), args.name, args.dir)
    print(f"saved baseline {args.name}: {path}")
    return EXIT_OK


def _baseline_show(args: argparse.Namespace) -> int:
    from loadkit.report.baseline import load_baseline, resolve_baseline

    data = load_baseline(resolve_baseline(args.name, args.dir))
    print(f"baseline {args.name} (run {data.get('run_id')})")
    for endpoint, stats in data["endpoints"].items():
        p95 = stats.get("p95")
        p95_text = "-" if p95 is None else f"{p95:.1f}ms"
        print(f"  {endpoint}: count {stats.get('count')}, p95 {p95_text}")
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from loadkit.report.baseline import compare_to_baseline, parse_tolerances, snapshot
    from loadkit.report.html import render_comparison
    from loadkit.report.stream import analyse_run_dir

    tolerances = parse_tolerances(args.tolerance)
    out: Path = args.out or (args.run_b / COMPARE_HTML)
    if out.is_dir():  # before the work: a bad --out is bad input, found at once
        raise RunDirError(
            "is a folder", source=str(out), field="--out", fix="pass an HTML file name"
        )
    _out_folder(out.parent)
    first, second = analyse_run_dir(args.run_a), analyse_run_dir(args.run_b)
    diffs = compare_to_baseline(snapshot(second), snapshot(first), tolerances)
    labels = (args.run_a.name, args.run_b.name)
    print(f"{labels[1]} compared with {labels[0]}:")
    for line in _comparison_lines(diffs, every_row=args.all):
        print(f"  {line}")
    try:
        out.write_text(render_comparison(first, second, diffs, labels), encoding="utf-8")
    except OSError as exc:
        raise RunDirError(
            f"cannot write it ({exc.strerror})",
            source=str(out),
            field="--out",
            fix="choose another file",
        ) from None
    print(f"wrote {out}")
    regressions = [d for d in diffs if d.status == "regression" and d.gated]
    print(f"{len(regressions)} regression(s)")
    return EXIT_CHECKS_FAILED if regressions else EXIT_OK


def _comparison_lines(diffs: list[BaselineDiff], every_row: bool) -> list[str]:
    """Every diff with ``every_row``; else the ones not ``ok``, worst first, and a count."""
    if every_row:
        return [_diff_line(diff) for diff in diffs]
    notable = sorted((d for d in diffs if d.status != "ok"), key=lambda d: _STATUS_ORDER[d.status])
    within = len(diffs) - len(notable)
    count = f"{within} of {len(diffs)} rows within tolerance (--all lists them)"
    return [*(_diff_line(diff) for diff in notable), count]


_STATUS_ORDER = {"regression": 0, "improvement": 1, "missing": 2, "new": 3}


def _diff_line(diff: BaselineDiff) -> str:
    if diff.baseline is None or diff.current is None:
        return f"{diff.status:<11} {diff.endpoint}"
    return (
        f"{diff.status:<11} {diff.endpoint} {diff.metric}: "
        f"{diff.baseline:.4g} -> {diff.current:.4g} ({diff.change})"
    )


def _tolerance_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="METRIC=PCT",
        help="regression tolerance, e.g. p95=10%% (defaults: p95=15%%, p99=20%%, "
        "error_rate=1%% absolute, rate=10%%); repeatable",
    )


def register(subparsers: Any) -> None:
    """Add the report, baseline and compare commands."""
    report = subparsers.add_parser(
        "report",
        help="analyse a run directory",
        description="Analyse a run directory: write summary.json, report.html and junit.xml, "
        "print a summary; exit 0 when every check passes, 1 when one fails, 2 on bad input.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument(
        "--baseline",
        metavar="NAME_OR_FILE",
        help="compare with a saved baseline (a name or a .json file)",
    )
    report.add_argument(
        "--baseline-dir",
        type=Path,
        default=DEFAULT_BASELINE_DIR,
        help="where named baselines live (default: %(default)s)",
    )
    report.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="EXPR",
        help="an extra check, e.g. 'p95(POST /execute) < 250ms'; repeatable",
    )
    report.add_argument("--out", type=Path, help="write the files here (default: RUN_DIR)")
    _tolerance_option(report)
    report.set_defaults(func=_report)

    baseline = subparsers.add_parser("baseline", help="save or show a named baseline")
    actions = baseline.add_subparsers(dest="action", metavar="ACTION", required=True)
    save = actions.add_parser("save", help="store a run's statistics as baseline NAME")
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    save.add_argument("name", metavar="NAME")
    save.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_BASELINE_DIR,
        help="baseline folder (default: %(default)s)",
    )
    save.set_defaults(func=_baseline_save)
    show = actions.add_parser("show", help="print a saved baseline")
    show.add_argument("name", metavar="NAME_OR_FILE")
    show.add_argument("--dir", type=Path, default=DEFAULT_BASELINE_DIR)
    show.set_defaults(func=_baseline_show)

    compare = subparsers.add_parser(
        "compare",
        help="compare two runs (text and HTML)",
        description="Compare RUN_B with RUN_A (the reference), endpoint by endpoint; exit 0 "
        "when nothing regressed, 1 when an endpoint regressed beyond its tolerance, "
        "2 on bad input.",
    )
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help="the reference run")
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help="the run to judge")
    compare.add_argument("--out", type=Path, help="HTML file (default: RUN_B/compare.html)")
    compare.add_argument(
        "--all",
        action="store_true",
        help="list every row, also those within tolerance (default: regressions, "
        "improvements, missing and new endpoints, and a count of the rest)",
    )
    _tolerance_option(compare)
    compare.set_defaults(func=_compare)
