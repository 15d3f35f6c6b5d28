"""The open (arrival-rate) model, k6's constant-arrival-rate for Locust.

:class:`ArrivalRate` starts iterations at a fixed rate whatever the response
times, fires each one as a request event (``request_type="ITER"``) timed from
its *intended* start when ``correct_omission`` is on (no coordinated
omission), and fires ``<name> dropped`` failures for iterations that could not
start on time because ``max_in_flight`` were already running.
:class:`OpenModelUser` runs it inside a Locust user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import gevent.pool
from locust import User, task

from loadkit.load.stages import FieldChecks
from loadkit.users.events import fire

__all__ = ["ArrivalRate", "IterationDropped", "OpenModelUser"]


class _RequestHook(Protocol):
    def fire(self, *, reverse: bool = False, **kwargs: Any) -> None: ...


class IterationDropped(Exception):
    """An iteration could not start on time: ``max_in_flight`` were running."""


@dataclass(frozen=True)
class ArrivalRate:
    """Start ``rate_per_s`` iterations per second, at most ``max_in_flight`` at once.

    ``duration_s`` bounds the schedule (None: until the user is stopped).
    """

    rate_per_s: float
    max_in_flight: int = 100
    duration_s: float | None = None
    correct_omission: bool = True
    name: str = "iteration"

    def __post_init__(self) -> None:
        check = FieldChecks(None, "arrival.")
        check.number("rate_per_s", self.rate_per_s, strict=True)
        check.count("max_in_flight", self.max_in_flight, minimum=1)
        if self.duration_s is not None:
            check.number("duration_s", self.duration_s, strict=True)

    def run(
        self,
        iteration: Callable[[], object],
        events: _RequestHook,
        clock: Callable[[], float] = time.perf_counter,
    ) -> tuple[int, int]:
        """Run the schedule; returns ``(started, dropped)``. Kills its iterations on exit."""
        pool = gevent.pool.Pool(self.max_in_flight)
        started = dropped = 0
        t0 = clock()
        end = float("inf") if self.duration_s is None else self.duration_s
        try:
            while (started + dropped) / self.rate_per_s < end:
                intended = t0 + (started + dropped) / self.rate_per_s
                wait = intended - clock()
                if wait > 0:
                    gevent.sleep(wait)
                if pool.full():
                    dropped += 1
                    error = IterationDropped(
                        f"could not start on time: {self.max_in_flight} iterations in flight"
                    )
                    self._fire(events, f"{self.name} dropped", 0.0, error)
                    continue
                started += 1
                pool.spawn(self._one, iteration, events, intended, clock)
            pool.join()
        finally:
            pool.kill(block=False)
        return started, dropped

    def _one(
        self,
        iteration: Callable[[], object],
        events: _RequestHook,
        intended: float,
        clock: Callable[[], float],
    ) -> None:
        actual = clock()
        error: Exception | None = None
        try:
            iteration()
        except Exception as exc:  # an iteration failure is a failed event, never a crash
            error = exc
        origin = intended if self.correct_omission else actual
        self._fire(events, self.name, (clock() - origin) * 1000.0, error)

    @staticmethod
    def _fire(events: _RequestHook, name: str, ms: float, error: Exception | None) -> None:
        fire(events, "ITER", name, 0.0, exception=error, response_time_ms=ms)


class OpenModelUser(User):
    """Mix in before a Locust user class; define ``iteration()`` and ``arrival``.

    Each user instance runs its own schedule, so the total rate is
    ``arrival.rate_per_s`` times the user count. With FastHttpUser, raise
    ``concurrency`` to ``max_in_flight`` so iterations do not queue for a
    connection.
    """

    abstract = True
    arrival: ClassVar[ArrivalRate] = ArrivalRate(rate_per_s=1.0)

    def iteration(self) -> None:
        raise NotImplementedError("define iteration() in your OpenModelUser")

    def arrival_plan(self) -> ArrivalRate:
        """The plan for this user (override to read Locust arguments)."""
        return self.arrival

    @task
    def run_open_model(self) -> None:
        plan = self.arrival_plan()
        plan.run(self.iteration, self.environment.events.request)
        while plan.duration_s is not None:  # schedule done: idle until Locust stops the user
            gevent.sleep(60.0)
