"""The worker side of the metrics: count, ship each interval to the master; the ticker.

A worker counts request latencies (:class:`~loadkit.metrics.intervals.IntervalCounter`)
and sends each finished interval to the master as a ``loadkit_latency`` custom message
(sparse HDR bucket counts), plus a last partial interval on ``test_stop``. When the
master writes a fault event it sends ``loadkit_cut``: the worker cuts its interval there
(what it counted between the event and the message's arrival, a few ms, falls before
the cut), so that no merged line straddles the fault window's edge.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import gevent
from locust.env import Environment

from loadkit.errors import ConfigError
from loadkit.metrics import settings as _settings
from loadkit.metrics.intervals import (
    Counts,
    CuttingHandOver,
    IntervalCounter,
    interval_index,
    to_wire,
)

__all__ = ["CUT_MESSAGE", "LATENCY_MESSAGE", "IntervalTicker", "WorkerShipper"]

log = logging.getLogger(__name__)

LATENCY_MESSAGE = "loadkit_latency"
CUT_MESSAGE = "loadkit_cut"  # master -> workers: cut the current interval at {"t": time}


class IntervalTicker:
    """Calls ``tick(index_of_the_interval_that_just_ended)`` at every interval boundary."""

    def __init__(self, interval_s: float, tick: Any) -> None:
        self.interval_s = interval_s
        self._tick = tick
        self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while True:
            now = time.time()
            ending = interval_index(now, self.interval_s)
            gevent.sleep((ending + 1) * self.interval_s - now + 0.002)
            try:
                self._tick(ending)
            except Exception:
                log.exception("loadkit: interval tick failed")

    def stop(self) -> None:
        self._greenlet.kill(block=True, timeout=5)


class WorkerShipper:
    """Worker side: count locally, send each finished interval to the master."""

    def __init__(self, environment: Environment, counter: IntervalCounter) -> None:
        self.environment = environment
        self.counter = counter
        self.interval_s = 1.0
        self.hand_over = CuttingHandOver(counter, self.interval_s)
        self._ticker: IntervalTicker | None = None

    def install(self) -> None:
        self.environment.events.test_start.add_listener(self._on_test_start)
        self.environment.events.test_stop.add_listener(self._on_test_stop)
        if self.environment.runner is not None:
            self.environment.runner.register_message(CUT_MESSAGE, self._on_cut)

    def _on_test_start(self, environment: Environment, **_kwargs: Any) -> None:
        try:  # the master's options were copied into parsed_options just before test_start
            self.interval_s = _settings.parse_interval(
                getattr(environment.parsed_options, "loadkit_interval", _settings.DEFAULT_INTERVAL)
            )
        except ConfigError as exc:
            log.error("loadkit: %s", exc)
        self.counter.swap()
        self.counter.enabled = True
        self.hand_over = CuttingHandOver(self.counter, self.interval_s)
        if self._ticker is not None:
            self._ticker.stop()
        self._ticker = IntervalTicker(self.interval_s, self._ship)

    def _ship(self, index: int) -> None:
        self.hand_over.tick(self._send, index)

    def _on_cut(self, environment: Environment, msg: Any, **_kwargs: Any) -> None:
        """The master wrote a fault event: cut here (what came since it is a few ms off)."""
        t = (msg.data or {}).get("t")
        if self.counter.enabled and isinstance(t, int | float) and math.isfinite(t):
            self.hand_over.cut(self._send, float(t))

    def _send(self, index: int, counts: Counts, since: float | None) -> None:
        if not counts and since is None:
            return
        runner = self.environment.runner
        message: dict[str, Any] = {"i": index, "s": self.interval_s, "c": to_wire(counts)}
        if since is not None:
            message["p"] = since  # a part of the interval, from this cut on
        try:
            if runner is not None:
                runner.send_message(LATENCY_MESSAGE, message)
        except Exception as exc:  # the master is gone or the connection is being reset
            log.warning("loadkit: could not send interval %d to the master: %s", index, exc)

    def _on_test_stop(self, environment: Environment, **_kwargs: Any) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self._ship(interval_index(time.time(), self.interval_s))
        self.counter.enabled = False
