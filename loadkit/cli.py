"""The ``loadkit`` command: a thin dispatcher over the parts.

Each sub-command lives with the part it belongs to. A part's CLI module
exposes ``register(subparsers)``, which adds its parser(s) and sets
``func=handler`` where ``handler(args) -> int`` returns the exit code. Only the
module of the command being run is imported, so ``loadkit report`` does not pay
for Locust's gevent patching and ``loadkit target`` does not import pandas.

Errors derived from :class:`~loadkit.errors.LoadkitError` are printed as one
line on stderr and turned into their exit code; nothing else is caught, so a
bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from loadkit import __version__
from loadkit.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, LoadkitError

# command -> (module with register(), one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "loadkit.run.command",
        "run a scenario: start the target, load it, inject faults, report",
    ),
    "report": ("loadkit.report.cli", "analyse a run dir: summary.json, report.html, junit.xml"),
    "baseline": ("loadkit.report.cli", "save a run's summary as a named baseline"),
    "compare": ("loadkit.report.cli", "compare two runs"),
    "target": ("loadkit.target.cli", "start the reference target (gateway + agent) on 127.0.0.1"),
    "proxy": ("loadkit.proxy.cli", "run the Toxiproxy-compatible TCP fault proxy"),
    "faults": ("loadkit.faults.cli", "list, check and recover faults (undo a killed run's faults)"),
    "init": ("loadkit.users.cli", "write a starter scenario, locustfile and profile"),
    "options": ("loadkit.users.cli", "list every loadkit and user option, default and help"),
    "audit": ("loadkit.audit.cli", "rerun the loss audit of a run against a service still up"),
    "validate": ("loadkit.scenario.cli", "check a scenario without running anything"),
}


# Commands whose process ends right after its work (the ``loadkit`` program, not a caller
# of main(argv)) without the interpreter's teardown: freeing pandas/matplotlib objects one
# by one costs 0.3-1 s on a busy machine and does nothing for the user.
FAST_EXIT_COMMANDS = frozenset({"run"})


def _exit_now(code: int) -> NoReturn:
    """Exit with ``code`` after the atexit handlers (log flushes, pool joins), skipping
    only the interpreter's final garbage collection and module teardown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadkit",
        description="Locust-based load and soak testing toolkit.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n"
        + "\n".join(f"  {name:<9} {help_}" for name, (_, help_) in COMMANDS.items())
        + "\n\nRun 'loadkit COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"loadkit {__version__}")
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The full parser with only ``command``'s module imported and registered."""
    parser = _top_parser()
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    module = importlib.import_module(COMMANDS[command][0])
    module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    if command is None or command not in COMMANDS:
        parser = _top_parser()
        if command is not None:
            parser.print_usage(sys.stderr)
            known = ", ".join(COMMANDS)
            message = f"unknown command '{command}'; use one of: {known}"
            print(f"loadkit: error: {message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        parser.parse_args(args_list)  # handles --help / --version
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        parser = build_parser(command)
        args = parser.parse_args(args_list)
        code: int = args.func(args)
        if argv is None and command in FAST_EXIT_COMMANDS:
            _exit_now(code)
        return code
    except LoadkitError as exc:
        print(f"loadkit {command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"loadkit {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
