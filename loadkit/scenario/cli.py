"""``loadkit validate SCENARIO``: check a scenario without running anything.

Reads the scenario as ``loadkit run`` does (its users and locustfile, load,
faults, probes, checks, audit settings and built-in target options). Exit 0
with a one-line summary, or 2 with one line naming the file, line and field.
"""

from __future__ import annotations

import argparse
from typing import Any

from loadkit.errors import EXIT_OK

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a scenario without running anything",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file")
    parser.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    from loadkit.scenario.load import load_scenario

    scenario = load_scenario(args.scenario)
    specs = scenario.faults
    length = scenario.duration_s
    print(
        f"{args.scenario}: ok: '{scenario.name}', {length:g}s, {len(scenario.users)} user "
        f"class(es), {len(specs)} fault(s), {len(scenario.probes)} probe(s), "
        f"{len(scenario.checks)} check(s), {len(scenario.target_options)} target option(s)"
    )
    return EXIT_OK
