"""The audit part's Locust plugin seam: ``attach(environment, recorder)`` (see loadkit.locust).

Sets ``environment.loadkit_accepted`` (an :class:`~loadkit.audit.record.AcceptedLog`)
that :func:`loadkit.audit.accepted` writes to. On the master / local runner it
opens ``accepted.jsonl`` in each test's run directory (and keeps it open after
``test_stop``, so work accepted by a user's last call is still recorded); the
master also writes what workers send. On a worker it forwards to the master.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadkit.audit.record import ATTRIBUTE, MESSAGE_TYPE, AcceptedLog

__all__ = ["attach"]


def attach(environment: Any, recorder: Any = None) -> AcceptedLog | None:
    from locust.runners import MasterRunner, WorkerRunner

    runner = environment.runner
    if runner is None:
        return None
    if isinstance(runner, WorkerRunner):
        log = AcceptedLog(send=runner.send_message)
        setattr(environment, ATTRIBUTE, log)
        return log
    log = AcceptedLog()
    setattr(environment, ATTRIBUTE, log)
    if isinstance(runner, MasterRunner):

        def on_message(environment: Any = None, msg: Any = None, **_kwargs: Any) -> None:
            data = getattr(msg, "data", None)
            if isinstance(data, list):
                log.write(data)

        runner.register_message(MESSAGE_TYPE, on_message)

    def on_test_start(**_kwargs: Any) -> None:
        run_dir = getattr(recorder, "run_dir", None)
        if run_dir is not None:
            log.open(Path(run_dir))

    environment.events.test_start.add_listener(on_test_start)
    environment.events.quit.add_listener(lambda **_kwargs: log.close())
    return log
