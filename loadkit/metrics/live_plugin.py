"""Locust seam of the live view: ``--loadkit-metrics-port``, ``/metrics`` and the loadkit page.

On the master (or local runner) :func:`attach` keeps one
:class:`~loadkit.metrics.live.LiveFigures` fed by every interval the run
recorder writes, and shows it

- to Prometheus: ``/metrics`` on Locust's web app when the web UI runs, and on
  a loopback listener (``--loadkit-metrics-port PORT``, off by default, binds
  127.0.0.1 only) for headless runs;
- to people: the web UI's "loadkit" tab and ``/loadkit`` page (``live_webui``).

Workers only count (the metrics part ships their intervals to the master).
The probes part will call ``live_figures(environment).add_probe_source(...)``;
a console progress line can read ``live_snapshot(environment)``.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from locust.env import Environment
from locust.runners import MasterRunner

from loadkit.errors import ConfigError
from loadkit.metrics.live import FaultRow, LiveFigures, Snapshot
from loadkit.metrics.recorder import Run, RunRecorder
from loadkit.plugin.context import PluginContext

__all__ = ["LiveView", "add_arguments", "attach", "live_figures", "live_snapshot", "parse_port"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_views: weakref.WeakKeyDictionary[Environment, LiveView] = weakref.WeakKeyDictionary()


def add_arguments(parser: Any) -> None:
    """Add ``--loadkit-metrics-port`` to Locust's parser."""
    parser.add_argument(
        "--loadkit-metrics-port",
        metavar="PORT",
        default="",
        env_var="LOCUST_LOADKIT_METRICS_PORT",
        include_in_web_ui=False,
        help="serve Prometheus /metrics on 127.0.0.1:PORT (default: off; "
        "with the web UI, /metrics is on its port too)",
    )


def parse_port(value: object) -> int | None:
    """``--loadkit-metrics-port``'s value → a port, or None when off."""
    text = str(value if value is not None else "").strip()
    if not text or text == "0":
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(
            f"{text!r} is not a TCP port",
            field="--loadkit-metrics-port",
            fix="write a number from 1 to 65535, e.g. 9646",
        )
    return int(text)


def live_figures(environment: Environment) -> LiveFigures | None:
    """The live figures attached to ``environment`` (None on workers or before attach)."""
    view = _views.get(environment)
    return view.figures if view is not None else None


def live_snapshot(environment: Environment) -> Snapshot | None:
    """What ``/metrics`` and ``/loadkit`` would show now (e.g. for a progress line)."""
    view = _views.get(environment)
    return view.snapshot() if view is not None else None


class LiveView:
    """Binds the figures to each run and assembles snapshots from loadkit's state."""

    def __init__(self, context: PluginContext, recorder: RunRecorder) -> None:
        self.context = context
        self.environment = context.environment
        self.recorder = recorder
        self.figures = LiveFigures()
        self._bound: Run | None = None

    def on_test_start(self, **_kwargs: Any) -> None:
        """After the recorder opened this test's run (the metrics part listens first)."""
        run = self.recorder.run
        if run is None or run is self._bound or run.finished:
            return
        self.figures.start_run(
            run.run_id, str(run.document.get("name") or ""), run.started_at, run.interval_s
        )
        run.merger.on_written = self.figures.add_interval
        self._bound = run

    def on_test_stop(self, **_kwargs: Any) -> None:
        if self._bound is not None:
            self.figures.stopped_at = self._bound.stopped_at

    def snapshot(self) -> Snapshot:
        runner = self.environment.runner
        workers = runner.worker_count if isinstance(runner, MasterRunner) else None
        running = self._bound is not None and self.recorder.running
        return self.figures.snapshot(
            running=running,
            users=runner.user_count if runner is not None else 0,
            workers=workers,
            faults=self._faults(),
        )

    def _faults(self) -> list[FaultRow]:
        schedule = self.context.schedule  # set by the faults part, after this one attached
        if schedule is None:
            return []
        try:
            rows: list[dict[str, Any]] = schedule.snapshot()
        except Exception:
            log.exception("loadkit: could not read the fault schedule")
            return []
        return [
            FaultRow(
                name=str(row["name"]),
                kind=str(row["kind"]),
                via=str(row.get("via") or ""),
                target=str(row.get("target") or ""),
                at_s=float(row["at_s"]),
                for_s=None if row.get("for_s") is None else float(row["for_s"]),
                state=str(row["state"]),
                injected_at_s=row.get("injected_at_s"),
                reverted_at_s=row.get("reverted_at_s"),
                error=str(row.get("error") or ""),
            )
            for row in rows
        ]


def attach(context: PluginContext, recorder: RunRecorder) -> LiveView | None:
    """Wire the live view on the master / local runner; None on workers.

    Raises :class:`ConfigError` for a bad ``--loadkit-metrics-port`` (not a
    port, or taken).
    """
    if context.is_worker:
        return None
    environment = context.environment
    existing = _views.get(environment)
    if existing is not None:
        return existing
    port = parse_port(getattr(context.options, "loadkit_metrics_port", None))
    view = LiveView(context, recorder)
    events = environment.events
    events.test_start.add_listener(view.on_test_start)
    events.test_stop.add_listener(view.on_test_stop)
    if port is not None or environment.web_ui is not None:
        _serve(environment, view, port)
    _views[environment] = view
    return view


def _serve(environment: Environment, view: LiveView, port: int | None) -> None:
    """The loopback listener and the web UI's routes (prometheus-client is imported here
    only: a headless run without ``--loadkit-metrics-port`` never loads it)."""
    from loadkit.metrics.prometheus import registry_for, serve

    registry = registry_for(view.snapshot)
    if port is not None:
        server = serve(registry, port, LOOPBACK)
        log.info("loadkit: Prometheus metrics on http://%s:%d/metrics", LOOPBACK, port)

        def stop_server(**_kwargs: Any) -> None:
            server.stop(timeout=1)

        environment.events.quit.add_listener(stop_server)
    if environment.web_ui is not None:
        from loadkit.metrics import live_webui

        live_webui.install(environment.web_ui, view.snapshot, registry)
