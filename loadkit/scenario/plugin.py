"""The scenario part's Locust plugin seam: ``add_arguments`` and ``attach`` (see loadkit.locust).

With ``--loadkit-scenario FILE`` it selects and weights the user classes and
sets the scenario's load shape (a :class:`loadkit.load.shape.StagedShape`) as
``environment.shape_class`` during Locust's ``init`` event, which Locust fires
after creating the runner and the web UI but before a headless run starts or
the web UI's "Start" button can be pressed: both modes then run the shape.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from loadkit.errors import ConfigError, ScenarioError
from loadkit.load import graceful
from loadkit.load.stages import Stage
from loadkit.plugin.badinput import exit_bad_input
from loadkit.plugin.context import PluginContext
from loadkit.rundir.layout import EventType
from loadkit.scenario.load import load_scenario, refuse_stage_checks
from loadkit.scenario.model import Scenario
from loadkit.scenario.yamldoc import did_you_mean

__all__ = ["add_arguments", "attach", "build_locust_shape", "quit_on_sigterm"]

logger = logging.getLogger("loadkit.scenario.model")


def build_locust_shape(scenario: Scenario, override: Stage | None = None) -> Any:
    """The scenario's load as a :class:`loadkit.load.shape.StagedShape` instance.

    ``override`` (from ``-u/-r/-t``) replaces the scenario's load with one stage.
    """
    from loadkit.load import shape as shapes

    if override is not None:
        return shapes.StagesShape([override], source=str(scenario.source))
    if scenario.shape is not None:
        kind, params = scenario.shape["kind"], scenario.shape_params
        return shapes.build_shape(kind, params, source=str(scenario.source))
    return shapes.StagesShape(scenario.stages, source=str(scenario.source))


def _override(options: Any, scenario: Scenario, total_s: float | None) -> Stage | None:
    users = getattr(options, "num_users", None)
    if users is None:
        return None
    rate = getattr(options, "spawn_rate", None) or float(max(users, 1))
    duration = getattr(options, "run_time", None) or total_s or scenario.duration_s
    if not duration:
        raise ScenarioError(
            "--users needs a duration for this shape",
            source=str(scenario.source),
            fix="also give --duration (loadkit run) or -t (locust)",
        )
    refuse_stage_checks(scenario, "-u/-r/-t")
    return Stage(0, "override", int(users), float(rate), float(duration))


def add_arguments(parser: Any) -> None:
    """Add ``--loadkit-scenario FILE`` to Locust's parser."""
    parser.add_argument(
        "--loadkit-scenario",
        default="",
        env_var="LOADKIT_SCENARIO",
        include_in_web_ui=False,
        help="loadkit scenario file: user mix and load shape (and its faults, unless "
        "--loadkit-faults is given). -u/-r/-t replace its load with one constant stage.",
    )


def _select_users(environment: Any, scenario: Scenario) -> None:
    available = dict(environment.available_user_classes or {})
    available.update({cls.__name__: cls for cls in environment.user_classes})
    chosen = []
    for name, weight in scenario.users.items():
        if name not in available:
            raise ScenarioError(
                f"no user class {name!r} in the locustfile",
                source=str(scenario.source),
                field=f"users.{name}",
                fix=did_you_mean(name, sorted(available)),
            )
        available[name].weight = weight
        chosen.append(available[name])
    environment.user_classes[:] = chosen


def quit_on_sigterm(context: PluginContext) -> None:
    """Make SIGTERM end a headless shape run gracefully.

    Locust 2.47 installs its SIGTERM handler only after ``start_automatic_run()``
    returns, and with a shape that call blocks until the shape ends: until then
    SIGTERM would kill Locust outright (no ``quitting``, so no fault revert and
    no final run.json). This handler ends the shape instead, so Locust's main
    greenlet quits the runner once, as at the shape's end, and that quit waits for
    the users' graceful stop (:mod:`loadkit.load.graceful`): the open model's
    in-flight iterations finish or are counted. Quitting the runner from the handler made the
    main greenlet quit it a second time, and that stop does not wait for users
    already dying: Locust exited while they were still in their graceful stop, and
    their iterations vanished. Locust then shuts down as after any run
    (``quitting``, ``quit``), and the handler removes itself so Locust's own handler
    takes over. It leaves a ``note`` event and sets ``context.interrupted``.
    """
    import gevent

    environment, recorder = context.environment, context.recorder

    def quit_runner() -> None:
        watcher.cancel()
        logger.info("loadkit: SIGTERM: stopping the run")
        context.interrupted = True  # for run.json's exit_status
        if recorder is not None and recorder.running:
            recorder.event(
                EventType.NOTE, message="SIGTERM: run stopped before the end of its shape"
            )
        runner = environment.runner
        if runner is None:
            return
        shape = runner.shape_greenlet
        if shape is not None and not shape.dead:
            shape.kill(block=False)  # Locust's main greenlet quits the runner once it ended
        else:
            runner.quit()

    watcher = gevent.signal_handler(signal.SIGTERM, quit_runner)
    environment.events.quitting.add_listener(lambda **_kwargs: watcher.cancel())


def attach(context: PluginContext) -> None:
    """Apply ``--loadkit-scenario``: weight the user classes, set the load shape.

    On the master / local runner the loaded :class:`~loadkit.scenario.model.Scenario`
    is also ``context.scenario`` (the metrics part writes its name, checks and
    baseline into run.json; the faults part schedules its ``faults``).

    A shape class defined in the locustfile wins over the scenario's load (it is
    what the locustfile asked for; a log line says so). ``-u`` (``loadkit run
    --users``) replaces the scenario's load with one constant stage of ``-u``
    users at ``-r``/s for ``-t`` (default: the scenario's length).
    """
    environment, options = context.environment, context.options
    path = getattr(options, "loadkit_scenario", "")
    if not path:
        return
    try:
        scenario = load_scenario(path)
        if scenario.users:
            _select_users(environment, scenario)
        if context.is_worker:
            return  # the master drives the shape and the faults
        context.scenario = scenario
        if environment.runner is not None:  # stop and quit wait for the users' graceful stop
            graceful.install(environment.runner)
        if environment.shape_class is not None:
            logger.info(
                "loadkit: the locustfile's shape %s wins over the scenario's load",
                type(environment.shape_class).__name__,
            )
            if getattr(options, "headless", False):
                quit_on_sigterm(context)
            return
        shape = build_locust_shape(scenario)
        override = _override(options, scenario, getattr(shape, "total_duration_s", None))
        if override is not None:
            shape = build_locust_shape(scenario, override)
    except ConfigError as exc:
        exit_bad_input(exc, context)
    shape.runner = environment.runner
    environment.shape_class = shape
    if getattr(options, "headless", False):
        quit_on_sigterm(context)
    if environment.available_shape_classes is not None:  # selectable in the web UI's picker
        environment.available_shape_classes[type(shape).__name__] = shape
