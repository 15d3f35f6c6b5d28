"""The one way bad input ends Locust at start: one line, children stopped, exit 2.

A part's ``attach`` that finds a bad scenario, fault plan or setting calls
:func:`exit_bad_input`. It prints ``loadkit: error: <message>`` once on stderr,
asks the workers ``--processes`` forked to stop (Locust's own exit hook then
reaps them) and raises ``SystemExit(2)``, which Locust lets end the process.

With ``--processes`` every process of the tree runs ``init``: a forked worker
whose parent is the master stays silent (the master prints the line), so one
bad file gives one line, not one per process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, NoReturn

import psutil

from loadkit.errors import ConfigError

if TYPE_CHECKING:
    from loadkit.plugin.context import PluginContext

__all__ = ["exit_bad_input"]


def exit_bad_input(exc: ConfigError, context: PluginContext) -> NoReturn:
    """End this Locust process for ``exc``: one line on stderr, children stopped, exit 2."""
    options = context.options
    forked = bool(getattr(options, "processes", None))
    if not (forked and context.is_worker and _parent_is_master()):
        print(f"loadkit: error: {exc}", file=sys.stderr, flush=True)
    if forked and not context.is_worker:
        _stop_forked_workers()
    raise SystemExit(exc.exit_code)


def _parent_is_master() -> bool:
    """A ``--processes`` worker: is the parent the master (not a ``--worker`` launcher)?"""
    if os.environ.get("LOCUST_MODE_WORKER", "").lower() in ("1", "true", "yes"):
        return False
    try:
        args = psutil.Process().parent().cmdline()  # type: ignore[union-attr]
    except (psutil.Error, AttributeError):
        return False
    return not any(arg in ("--worker", "-w") for arg in args)


def _stop_forked_workers() -> None:
    """Ask the workers ``--processes`` forked to stop.

    They are not waited for here: Locust's exit hook (``atexit``) waits for and
    reaps them, and would fail on a child already reaped.
    """
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            child.terminate()
