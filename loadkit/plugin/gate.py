"""``--loadkit-start-gate PATH``: Locust starts while ``loadkit run`` starts the target.

``loadkit run`` starts Locust (whose imports take a second or more) at the same
time as the built-in target, and creates PATH once the target answers. Until
then the plugin holds Locust in its ``init`` event: no run directory, no user,
no ``--run-time`` clock. A gate that never opens ends Locust after
``GATE_TIMEOUT_S`` (``loadkit run`` normally kills it sooner: its target failed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from loadkit.errors import EXIT_RUN_FAILED

__all__ = ["GATE_TIMEOUT_S", "add_arguments", "wait_for_gate"]

GATE_TIMEOUT_S = 300.0
POLL_S = 0.01


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--loadkit-start-gate",
        metavar="PATH",
        default=None,
        include_in_web_ui=False,
        help="hold the start until PATH exists (loadkit run opens it when its target is up)",
    )


def wait_for_gate(options: Any, timeout_s: float = GATE_TIMEOUT_S) -> None:
    """Return once the gate file exists (at once without a gate); exit 3 after ``timeout_s``."""
    raw = getattr(options, "loadkit_start_gate", None)
    if not raw:
        return
    gate = Path(raw)
    deadline = time.monotonic() + timeout_s
    while not gate.exists():
        if time.monotonic() > deadline:
            message = f"loadkit: error: the start gate {gate} did not open in {timeout_s:g}s"
            print(message, file=sys.stderr, flush=True)
            raise SystemExit(EXIT_RUN_FAILED)
        time.sleep(POLL_S)  # gevent's sleep under Locust: other greenlets (workers) go on
