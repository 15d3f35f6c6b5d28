"""The audit part's Locust plugin seam: ``attach(context)`` (see loadkit.locust).

Registers the environment's :class:`~loadkit.audit.record.AcceptedLog`, which
:func:`loadkit.audit.accepted` writes to. On the master / local runner it
opens ``accepted.jsonl`` in each test's run directory (and keeps it open after
``test_stop``, so work accepted by a user's last call is still recorded); the
master also writes what workers send. On a worker it forwards to the master.
"""

from __future__ import annotations

from typing import Any

from loadkit.audit.record import MESSAGE_TYPE, AcceptedLog, register_log
from loadkit.plugin.context import PluginContext

__all__ = ["attach"]


def attach(context: PluginContext) -> AcceptedLog | None:
    from locust.runners import MasterRunner

    environment, recorder = context.environment, context.recorder
    runner = environment.runner
    if runner is None:
        return None
    if context.is_worker:
        return register_log(environment, AcceptedLog(send=runner.send_message))
    log = register_log(environment, AcceptedLog())
    if isinstance(runner, MasterRunner):

        def on_message(environment: Any = None, msg: Any = None, **_kwargs: Any) -> None:
            data = getattr(msg, "data", None)
            if isinstance(data, list):
                log.write(data)

        runner.register_message(MESSAGE_TYPE, on_message)

    def on_test_start(**_kwargs: Any) -> None:
        run_dir = recorder.current_run_dir if recorder is not None else None
        if run_dir is not None:
            log.open(run_dir)

    environment.events.test_start.add_listener(on_test_start)
    environment.events.quit.add_listener(lambda **_kwargs: log.close())
    return log
