"""basic.py's users, plus each worker's own tally of its requests.

On a worker, every request event is counted per endpoint and outcome, and the
tally is written to ``$LOADKIT_TEST_TALLY_DIR/worker-<pid>.json`` when the
worker quits, so a test can compare the master's figures with the sum of what
each worker really sent.
"""

import json
import os
from pathlib import Path
from typing import Any

from basic import BasicUser  # noqa: F401  (the users)
from locust import events
from locust.runners import WorkerRunner

import loadkit.locust  # noqa: F401  (attaches loadkit)

_tally: dict[str, dict[str, int]] = {}


@events.init.add_listener
def _count_on_workers(environment: Any, **_kwargs: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        return

    def on_request(request_type: str, name: str, exception: Any = None, **_: Any) -> None:
        counts = _tally.setdefault(f"{request_type} {name}", {"requests": 0, "failures": 0})
        counts["requests"] += 1
        counts["failures"] += exception is not None

    def write(**_: Any) -> None:
        out = Path(os.environ["LOADKIT_TEST_TALLY_DIR"]) / f"worker-{os.getpid()}.json"
        out.write_text(json.dumps(_tally))

    environment.events.request.add_listener(on_request)
    environment.events.quit.add_listener(write)
