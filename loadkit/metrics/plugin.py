"""Locust plugin seam for metrics: wires the run recorder into Locust's events.

``loadkit.locust`` calls :func:`add_arguments` from ``init_command_line_parser``
and :func:`attach` from ``init``. Roles:

* **local runner**: counts request latencies itself and writes the run directory.
* **worker**: counts request latencies and ships each finished interval to the
  master as a ``loadkit_latency`` custom message (sparse HDR bucket counts), plus
  a last partial interval on ``test_stop``; writes nothing.
* **master**: merges what workers send and writes the run directory.

The local runner cuts its current interval at each fault inject/revert; a master tells
its workers to (``loadkit_cut``). No line of ``latency.hlog`` then straddles a fault
window's edge, and the window's figures hold what was recorded inside it.

A run starts on ``test_start`` and stops on ``test_stop`` (one run directory per
test start, also from the web UI); the ``quit`` event completes ``run.json``
with Locust's exit code and final totals.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner

from loadkit.errors import ConfigError
from loadkit.metrics import live_plugin as _live
from loadkit.metrics import settings as _settings
from loadkit.metrics.failures import write_failures
from loadkit.metrics.intervals import (
    CuttingHandOver,
    IntervalCounter,
    from_wire,
    interval_index,
)
from loadkit.metrics.recorder import RunInfo, RunRecorder
from loadkit.metrics.resources import Collector, ProcessCollector, docker_collectors
from loadkit.metrics.settings import MetricsSettings, read_target_info
from loadkit.metrics.shipper import CUT_MESSAGE, LATENCY_MESSAGE, IntervalTicker, WorkerShipper
from loadkit.metrics.timeline import TimelineWatcher
from loadkit.plugin.badinput import exit_bad_input
from loadkit.plugin.context import PluginContext, context_of
from loadkit.rundir.layout import git_commit, strip_userinfo, versions

__all__ = ["LATENCY_MESSAGE", "add_arguments", "attach", "recorder_of"]

log = logging.getLogger(__name__)

# Wait this long after test_stop for the workers' last stats before completing run.json.
WORKER_GRACE_S = 4.0


def add_arguments(parser: Any) -> None:
    """Add this part's --loadkit-* arguments to Locust's parser."""
    _settings.add_arguments(parser)
    _live.add_arguments(parser)


def recorder_of(environment: Environment) -> RunRecorder | None:
    """The :class:`RunRecorder` attached to ``environment`` (None on workers)."""
    context = context_of(environment)
    recorder = context.recorder if context is not None else None
    return recorder if isinstance(recorder, RunRecorder) else None


def attach(context: PluginContext) -> None:
    """Attach metrics; sets ``context.recorder`` on master/local (it stays None on workers).

    Bad settings end the process through :func:`~loadkit.plugin.badinput.exit_bad_input`.
    """
    if context.recorder is not None:
        return
    environment = context.environment
    try:
        settings = MetricsSettings.from_options(
            context.options, check_out_dir=not context.is_worker
        )
    except ConfigError as exc:
        exit_bad_input(exc, context)
    counter = IntervalCounter()
    environment.events.request.add_listener(counter.on_request)
    if context.is_worker:
        WorkerShipper(environment, counter).install()
        return
    pipeline = _RunPipeline(context, counter, settings)
    pipeline.install()
    context.recorder = pipeline.recorder
    try:  # after install: the live view's test_start runs after the recorder's
        _live.attach(context, pipeline.recorder)
    except ConfigError as exc:
        exit_bad_input(exc, context)


class _RunPipeline:
    """Master / local side: one run directory per test start."""

    def __init__(
        self, context: PluginContext, counter: IntervalCounter, settings: MetricsSettings
    ) -> None:
        self.context = context
        environment = self.environment = context.environment
        self.counter = counter
        self.hand_over = CuttingHandOver(counter, 1.0)
        self.settings = settings
        self.recorder = RunRecorder()
        self.is_master = isinstance(environment.runner, MasterRunner)
        self.watcher = TimelineWatcher(environment, self.recorder.event)
        self._ticker: IntervalTicker | None = None
        self._finisher: gevent.Greenlet[Any, Any] | None = None
        self._interrupted = False
        self._stats_reset = False  # Locust's totals then miss requests the hlog has

    def install(self) -> None:
        events = self.environment.events
        events.reset_stats.add_listener(self._on_reset_stats)
        events.test_start.add_listener(self._on_test_start)
        events.test_stop.add_listener(self._on_test_stop)
        events.quitting.add_listener(self._on_quitting)
        events.quit.add_listener(self._on_quit)
        runner = self.environment.runner
        if self.is_master and runner is not None:
            events.worker_connect.add_listener(self._on_worker_connect)
            runner.register_message(LATENCY_MESSAGE, self._on_latency)

    # -- run start ------------------------------------------------------------------------

    def _on_test_start(self, environment: Environment, **_kwargs: Any) -> None:
        try:  # the web UI may have changed the options since init
            self.settings = MetricsSettings.from_options(environment.parsed_options)
        except ConfigError as exc:
            log.error("loadkit: not recording this run: %s", exc)
            return
        self._cancel_finisher()
        self._interrupted = False
        self._stats_reset = bool(getattr(environment, "reset_stats", False))  # --reset-stats
        try:
            run = self.recorder.start(
                self.settings.out_dir, self._run_info(), self._interval_s(), self._collectors()
            )
        except OSError as exc:  # e.g. the disk filled up since the run was configured
            log.error("loadkit: not recording this run: cannot write the run directory: %s", exc)
            return
        self.counter.swap()
        self.counter.enabled = not self.is_master
        if self.is_master:  # the workers count: they cut where the master says
            self.recorder.set_on_cut(self._tell_workers_to_cut)
        else:
            self.hand_over = CuttingHandOver(self.counter, run.interval_s)
            self.recorder.set_on_cut(lambda t: self.hand_over.cut(run.merger.add, t))
        self.watcher = TimelineWatcher(environment, self.recorder.event)
        self.watcher.poll()
        self._ticker = IntervalTicker(run.interval_s, self._tick)

    def _on_reset_stats(self, **_kwargs: Any) -> None:
        self._stats_reset = True  # the web UI's Reset Stats

    def _interval_s(self) -> float:
        """``--loadkit-interval``, or the scenario's ``interval`` when the flag was not given."""
        options = self.environment.parsed_options
        flag = str(getattr(options, "loadkit_interval", _settings.DEFAULT_INTERVAL))
        scenario = self.context.scenario
        scenario_interval = scenario.interval_s if scenario is not None else None
        if flag == _settings.DEFAULT_INTERVAL and scenario_interval:
            try:
                return _settings.parse_interval(scenario_interval)
            except ConfigError as exc:
                log.error("loadkit: scenario interval ignored: %s", exc)
        return self.settings.interval_s

    def _run_info(self) -> RunInfo:
        env = self.environment
        options = env.parsed_options
        scenario = self.context.scenario
        locustfiles = env.parsed_locustfiles or []
        locustfile = locustfiles[0] if locustfiles else getattr(options, "locustfile", None)
        scenario_file = getattr(options, "loadkit_scenario", None) or (
            scenario.path if scenario is not None else None
        )
        name = (
            self.settings.run_name
            or (scenario.name if scenario is not None else None)
            or (Path(str(scenario_file)).stem if scenario_file else None)
            or (Path(str(locustfile)).stem if locustfile else None)
            or "run"
        )
        runner = env.runner
        workers = len(getattr(runner, "clients", {}) or {}) if self.is_master else 0
        checks = scenario.checks if scenario is not None else ()
        baseline = scenario.baseline if scenario is not None else None
        return RunInfo(
            name=str(name),
            host=strip_userinfo(env.host),
            locustfile=str(locustfile) if locustfile else None,
            scenario_file=str(scenario_file) if scenario_file else None,
            mode="master" if self.is_master else "local",
            workers=workers,
            checks=[str(check) for check in checks],
            baseline=str(baseline) if baseline else None,
            target_pids=dict(self.settings.target_pids),
            containers=list(self.settings.containers),
            versions=versions(),
            git_commit=git_commit(),
        )

    def _collectors(self) -> list[Collector]:
        info = str(getattr(self.environment.parsed_options, "loadkit_target_info", "") or "")
        collectors: list[Collector] = []
        for label, pid in self.settings.target_pids.items():
            collectors.append(ProcessCollector(label, pid, _pid_resolver(info, label)))
        collectors.append(ProcessCollector("locust-master", os.getpid()))
        collectors.extend(docker_collectors(self.settings.containers))
        return collectors

    # -- while running --------------------------------------------------------------------

    def _tick(self, index: int) -> None:
        run = self.recorder.run
        if run is None:
            return
        if not self.is_master:
            self.hand_over.tick(run.merger.add, index)
        run.merger.write_due(time.time())
        self.watcher.poll()

    def _on_latency(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        run = self.recorder.run
        if run is None or run.finished:
            return
        data = msg.data or {}
        index, interval_s = int(data["i"]), float(data.get("s") or run.interval_s)
        if interval_s != run.interval_s:  # a worker that missed an interval change: by midpoint
            index = interval_index((index + 0.5) * interval_s, run.interval_s)
        since = data.get("p")  # a part of the interval, cut at a fault event
        since = float(since) if isinstance(since, int | float) else None
        run.merger.add(index, from_wire(data["c"]), since)

    def _tell_workers_to_cut(self, t: float) -> None:
        runner = self.environment.runner
        try:
            if runner is not None:
                runner.send_message(CUT_MESSAGE, {"t": t})
        except Exception as exc:  # a worker is gone: its intervals stay whole
            log.warning("loadkit: could not tell the workers about the fault event: %s", exc)

    def _on_worker_connect(self, client_id: str, **_kwargs: Any) -> None:
        if self.recorder.run is not None:
            self.watcher.worker_joined(client_id)

    # -- run end --------------------------------------------------------------------------

    def _on_test_stop(self, environment: Environment, **_kwargs: Any) -> None:
        run = self.recorder.run
        if run is None or run.stopped_at is not None:
            return
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.recorder.set_on_cut(None)
        if not self.is_master:
            self.hand_over.tick(run.merger.add, interval_index(time.time(), run.interval_s))
            self.counter.enabled = False
        self.watcher.poll()
        self.recorder.stop()
        self._write_failures()  # on a master: again after the grace, with the last stats
        if self.is_master:  # the workers' last intervals and stats are still on their way
            self._finisher = gevent.spawn_later(WORKER_GRACE_S, self._finish, None)
        else:
            self._finish(None)

    def _on_quitting(self, environment: Environment, **_kwargs: Any) -> None:
        runner = environment.runner
        running = runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING)
        # sticky: Locust may run shutdown (and so quitting) twice on SIGTERM
        self._interrupted = self._interrupted or (running and self.recorder.running)

    def _on_quit(self, exit_code: int, **_kwargs: Any) -> None:
        self._cancel_finisher()
        if self.recorder.run is not None:
            self._finish(exit_code)
        self.recorder.close()

    def _finish(self, exit_code: int | None) -> None:
        code = self._expected_exit_code() if exit_code is None else exit_code
        stats = self.environment.stats
        totals = (  # after a reset, Locust's totals are not the run's: not cross-checked
            None
            if self._stats_reset
            else {"requests": stats.total.num_requests, "failures": stats.total.num_failures}
        )
        interrupted = self._interrupted or self.context.interrupted
        self._write_failures()
        self.recorder.finish(code, interrupted, totals)

    def _write_failures(self) -> None:
        run = self.recorder.run
        if run is None:
            return
        try:
            write_failures(run.dir, list(self.environment.stats.errors.values()))
        except OSError as exc:
            log.error("loadkit: could not write the failure messages in %s: %s", run.dir, exc)

    def _expected_exit_code(self) -> int:
        """The exit code Locust will use, as far as it is known before ``quit``."""
        env = self.environment
        if env.process_exit_code is not None:
            return int(env.process_exit_code)
        runner = env.runner
        if runner is not None and (runner.errors or runner.exceptions):
            return int(getattr(env.parsed_options, "exit_code_on_error", 1))
        return 0

    def _cancel_finisher(self) -> None:
        if self._finisher is not None:
            self._finisher.kill(block=False)
            self._finisher = None


def _pid_resolver(target_info: str, label: str) -> Callable[[], int | None] | None:
    """Re-read target.json for ``label``'s pid (the process fault backend restarts processes)."""
    if not target_info:
        return None

    def resolve() -> int | None:
        try:
            return read_target_info(Path(target_info).expanduser()).get(label)
        except ConfigError:
            return None

    return resolve
