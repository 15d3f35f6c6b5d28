"""Locust plugin seam for faults: arguments, the schedule, revert guarantees, the UI tab.

On the master (or the local runner) :func:`attach` validates the fault plan
(``--loadkit-faults FILE``, or the ``faults:`` of ``--loadkit-scenario``), first
reverts faults a hard-killed earlier run left behind (the journal index), and
wires the schedule to Locust's events:

- ``test_start``: the timeline starts, offsets count from here;
- ``test_stopping`` / ``test_stop``: everything active is reverted (``stop``),
  which covers the normal end, ``--run-time`` and the web UI's Stop button;
- ``quitting``: reverted too, with reason ``signal`` when the test was still
  running (Ctrl-C, SIGTERM: Locust's own handlers fire ``quitting``).

Workers only listen: the master sends the active fault names with every
change, and :func:`active_faults` returns them, so users can tag what they
measure (``if "gw-pause" in active_faults(): ...``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError
from loadkit.faults.backends.base import DEFAULT_PROXY_API, BackendContext, BackendSet
from loadkit.faults.journal import FaultJournal, recover
from loadkit.faults.model import FaultSpec, load_fault_file
from loadkit.faults.schedule import FaultSchedule
from loadkit.plugin.badinput import exit_bad_input
from loadkit.plugin.context import PluginContext, Recorder

__all__ = ["MESSAGE_TYPE", "active_faults", "add_arguments", "attach"]

log = logging.getLogger(__name__)

MESSAGE_TYPE = "loadkit_faults"
_active: frozenset[str] = frozenset()


def active_faults() -> frozenset[str]:
    """Names of the faults active now (on workers: as last told by the master)."""
    return _active


def _set_active(names: list[str] | frozenset[str]) -> None:
    global _active
    _active = frozenset(names)


def add_arguments(parser: Any) -> None:
    """Add this part's --loadkit-* arguments to Locust's parser."""
    parser.add_argument(
        "--loadkit-faults",
        metavar="FILE",
        default=None,
        include_in_web_ui=False,
        help="YAML file with a top-level 'faults:' list (a scenario file works)",
    )
    parser.add_argument(
        "--loadkit-target-info",
        metavar="PATH",
        default=None,
        include_in_web_ui=False,
        help="the target's target.json (pids and restart commands) for 'target: gateway'",
    )
    parser.add_argument(
        "--loadkit-proxy-api",
        metavar="URL",
        default=DEFAULT_PROXY_API,
        include_in_web_ui=False,
        help=f"Toxiproxy-compatible API for proxy faults (default {DEFAULT_PROXY_API})",
    )
    parser.add_argument(
        "--loadkit-proxy-name",
        metavar="NAME",
        default=None,
        include_in_web_ui=False,
        help="proxy used by proxy faults that name none",
    )
    parser.add_argument(
        "--loadkit-faults-index",
        metavar="DIR",
        default=None,
        include_in_web_ui=False,
        help="journal index of active faults (default $LOADKIT_FAULTS_INDEX or ~/.loadkit/faults)",
    )


def _on_message(environment: Any = None, msg: Any = None, **_kwargs: Any) -> None:
    data = getattr(msg, "data", None) or {}
    _set_active(list(data.get("active") or []))


def _plan(context: PluginContext) -> tuple[FaultSpec, ...]:
    """``--loadkit-faults FILE``, else the faults of the scenario the scenario part loaded."""
    path = getattr(context.options, "loadkit_faults", None)
    if path:
        return tuple(load_fault_file(path))
    return context.scenario.faults if context.scenario is not None else ()


def _recover_leftovers(index: Path | None) -> None:
    try:
        results = recover(index)
    except Exception:
        log.exception("could not recover faults left by earlier runs")
        return
    for result in results:
        if result.skipped:
            continue
        if result.ok:
            log.warning("reverted fault %s left active by an earlier run", result.name)
        else:
            log.error(
                "fault %s left by an earlier run: revert failed: %s", result.name, result.error
            )


def attach(context: PluginContext) -> None:
    """Attach the fault schedule; sets ``context.schedule`` on master/local when there is a plan.

    Run after the metrics part (its recorder) and the scenario part (its fault plan).
    """
    try:
        context.schedule = _attach(context)
    finally:
        _refresh_loop_clock()


def _refresh_loop_clock() -> None:
    """Bring gevent's cached loop time up to date after blocking start-up work.

    libev caches "now" per loop iteration; Locust's ``--run-time`` timer is
    ``spawn_later(run_time)`` from that cached time, so CPU-bound init work
    (imports, parsing, recovery) that never yields ends the run that much
    early. Measured: 3 s of blocking init made a 6 s run stop after 1.6 s.
    """
    import gevent

    gevent.get_hub().loop.update_now()


def _attach(context: PluginContext) -> FaultSchedule | None:
    from locust.runners import LocalRunner

    environment, recorder = context.environment, context.recorder
    runner = environment.runner
    if runner is None:
        return None
    if MESSAGE_TYPE not in runner.custom_messages:
        runner.register_message(MESSAGE_TYPE, _on_message)
    _set_active([])
    if context.is_worker:
        return None
    options = context.options
    try:
        specs = list(_plan(context))
    except ConfigError as exc:
        exit_bad_input(exc, context)
    index_opt = getattr(options, "loadkit_faults_index", None)
    index = Path(index_opt) if index_opt else None
    _recover_leftovers(index)
    if not specs:
        return None
    backend_context = BackendContext(
        host=environment.host or getattr(options, "host", None),
        target_info=getattr(options, "loadkit_target_info", None),
        proxy_api=getattr(options, "loadkit_proxy_api", None) or DEFAULT_PROXY_API,
        proxy_name=getattr(options, "loadkit_proxy_name", None),
    )
    journal = FaultJournal(_run_dir_of(recorder), backend_context, index, watchdog=True)

    def tell_workers(names: list[str]) -> None:
        _set_active(names)
        if not isinstance(runner, LocalRunner):  # the master tells its workers
            runner.send_message(MESSAGE_TYPE, {"active": names})

    backends = BackendSet(backend_context)
    try:
        backends.prepare(specs)
    except Exception as exc:  # e.g. the docker SDK is missing: the fault will fail and say so
        log.warning("could not prepare fault backends: %s", exc)
    schedule = FaultSchedule(specs, backends, recorder, journal, tell_workers)
    _wire_events(environment, schedule, recorder)
    if environment.web_ui is not None:
        from loadkit.faults import webui

        webui.install(environment.web_ui, schedule)
    return schedule


def _run_dir_of(recorder: Recorder | None) -> Path | None:
    """The recorder's current run dir; None before its first run (or without one)."""
    return recorder.current_run_dir if recorder is not None else None


def _wire_events(environment: Any, schedule: FaultSchedule, recorder: Recorder | None) -> None:
    events = environment.events

    def on_test_start(**_kwargs: Any) -> None:
        # metrics attached first, so its test_start made this test's run dir already
        if schedule.journal is not None:
            schedule.journal.use_run_dir(_run_dir_of(recorder))
        schedule.start()

    def on_test_stopping(**_kwargs: Any) -> None:
        schedule.stop("stop")

    def on_quitting(**_kwargs: Any) -> None:
        from locust.runners import STATE_RUNNING, STATE_SPAWNING

        running = environment.runner is not None and environment.runner.state in (
            STATE_RUNNING,
            STATE_SPAWNING,
        )
        schedule.stop("signal" if running else "stop")

    def on_worker_connect(client_id: str = "", **_kwargs: Any) -> None:
        if schedule.active():  # a late worker learns what is active now
            environment.runner.send_message(
                MESSAGE_TYPE, {"active": schedule.active()}, client_id=client_id
            )

    events.test_start.add_listener(on_test_start)
    events.worker_connect.add_listener(on_worker_connect)
    events.test_stopping.add_listener(on_test_stopping)
    events.test_stop.add_listener(on_test_stopping)
    events.quitting.add_listener(on_quitting)
