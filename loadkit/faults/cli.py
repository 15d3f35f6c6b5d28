"""``loadkit faults list | check | recover``.

- ``list FILE``: the plan of a fault file (or scenario file) as a table;
- ``check FILE``: validate it (exit 2 with a one-line error when bad);
- ``recover``: undo faults left active by runs that were hard-killed (reads the
  journal index and, with ``--run-dir``, a run's ``faults.journal``). A fault
  whose subject was started by a ``loadkit run`` that has ended (its built-in
  target or fault proxy died with it) is closed with a note, exit 0. Nothing
  is written into a run directory's events (that run has ended).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadkit.errors import EXIT_OK, EXIT_RUN_FAILED
from loadkit.faults.backends.base import BackendContext, BackendSet
from loadkit.faults.journal import default_index_dir, recover
from loadkit.faults.model import FaultSpec, load_fault_file

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "faults",
        help="list, check and recover faults (undo a killed run's faults)",
        description="List and check fault plans; undo faults a killed run left active.",
    )
    sub = parser.add_subparsers(dest="faults_command", metavar="ACTION", required=True)

    for name, help_ in (("list", "show the faults of a file"), ("check", "validate a file")):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("file", metavar="FILE", help="YAML file with a top-level 'faults:' list")
        p.set_defaults(func=_list if name == "list" else _check)

    p = sub.add_parser(
        "recover",
        help="revert faults left active by killed runs",
        description="Revert faults left active by runs that are no longer running.",
    )
    p.add_argument(
        "--index",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"journal index (default {default_index_dir()})",
    )
    p.add_argument(
        "--run-dir",
        metavar="DIR",
        type=Path,
        action="append",
        default=[],
        help="also read DIR/faults.journal (repeatable)",
    )
    p.add_argument(
        "--force", action="store_true", help="also revert faults of runs that are still running"
    )
    p.add_argument(
        "--drop-failed",
        action="store_true",
        help="forget faults whose revert fails (after reporting them)",
    )
    p.set_defaults(func=_recover)


def _describe(spec: FaultSpec) -> str:
    try:
        return BackendSet(BackendContext()).describe(spec)
    except Exception:
        return spec.target


def _list(args: argparse.Namespace) -> int:
    specs = load_fault_file(args.file)
    header = ("NAME", "AT", "FOR", "VIA", "KIND", "WHAT")
    rows = [
        (
            s.name,
            f"{s.at_s:g}s",
            "-" if s.for_s is None else f"{s.for_s:g}s",
            s.via,
            s.kind,
            _describe(s),
        )
        for s in specs
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        cells = [str(v).ljust(w) for v, w in zip(row[:5], widths, strict=True)]
        print("  ".join([*cells, row[5]]))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    specs = load_fault_file(args.file)
    print(f"{args.file}: ok, {len(specs)} fault(s)")
    return EXIT_OK


def _recover(args: argparse.Namespace) -> int:
    results = recover(args.index, args.run_dir, force=args.force, drop_failed=args.drop_failed)
    if not results:
        print("no active faults to recover")
        return EXIT_OK
    failed = 0
    for r in results:
        if r.skipped:
            print(f"skipped  {r.name} ({r.kind}): {r.skipped}")
        elif r.note:
            print(f"closed   {r.name} ({r.kind}): {r.note}")
        elif r.ok:
            print(f"reverted {r.name} ({r.kind})")
        else:
            failed += 1
            print(f"FAILED   {r.name} ({r.kind}): {r.error}")
    return EXIT_RUN_FAILED if failed else EXIT_OK
