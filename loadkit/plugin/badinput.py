"""The one way bad input ends Locust at start: one line, children stopped, exit 2.

A part's ``attach`` that finds a bad scenario, fault plan or setting calls
:func:`exit_bad_input`. It prints ``loadkit: error: <message>`` once on stderr,
stops the workers ``--processes`` forked (and waits until they have exited)
and raises ``SystemExit(2)``, which Locust lets end the process.

With ``--processes`` every process of the tree runs ``init``. A forked worker
whose parent is the master says nothing and waits for the master to stop it:
the master checks the same options and files and says it once, so one bad
file gives one line (and no "bad response code" line from Locust).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, NoReturn

import psutil

from loadkit._proc import stop_pids
from loadkit.errors import ConfigError

if TYPE_CHECKING:
    from loadkit.plugin.context import PluginContext

__all__ = ["exit_bad_input"]

# How long children get to exit after SIGTERM (then SIGKILL), and how long a
# forked worker waits for its master to stop it before it exits by itself.
STOP_TIMEOUT_S = 10.0
MASTER_WAIT_S = 30.0


def exit_bad_input(exc: ConfigError, context: PluginContext) -> NoReturn:
    """End this Locust process for ``exc``: one line on stderr, children stopped, exit 2."""
    forked = bool(getattr(context.options, "processes", None))
    if forked and context.is_worker and _parent_is_master():
        time.sleep(MASTER_WAIT_S)  # gevent's sleep: the master's SIGTERM ends us first
    else:
        print(f"loadkit: error: {exc}", file=sys.stderr, flush=True)
    if forked and not context.is_worker:
        _stop_forked_workers()
    raise SystemExit(exc.exit_code)


def _parent_is_master() -> bool:
    """A ``--processes`` worker: is the parent the master (not a ``--worker`` launcher)?"""
    if os.environ.get("LOCUST_MODE_WORKER", "").lower() in ("1", "true", "yes"):
        return False
    try:
        parent = psutil.Process().parent()
        args = parent.cmdline() if parent is not None else ["--worker"]
    except psutil.Error:
        return False
    return not any(arg in ("--worker", "-w") for arg in args)


def _stop_forked_workers() -> None:
    """SIGTERM the forked workers, SIGKILL any still running after STOP_TIMEOUT_S.

    Their exit is waited for without reaping them: Locust's exit hook reaps
    them, and it would fail on a child already reaped (and it does not wait for
    one still running: it would be left behind).
    """
    stop_pids([child.pid for child in psutil.Process().children()], STOP_TIMEOUT_S, reap=False)
