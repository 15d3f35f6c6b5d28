"""The open (arrival-rate) model, k6's constant-arrival-rate for Locust.

:class:`ArrivalRate` starts iterations at a fixed rate whatever the response
times, fires each one as a request event (``request_type="ITER"``) timed from
its *intended* start when ``correct_omission`` is on (no coordinated
omission). What did not run normally has an event of its own name:

- ``<name> dropped``: could not start on time, ``max_in_flight`` were already
  running; a *count* (``response_time=None``: Locust keeps it out of its
  percentiles; loadkit's report lists ITER events apart from requests);
- ``<name> interrupted``: still running when the user was stopped and after the
  grace period (``graceful_stop_s``, 30 s by default like k6's ``gracefulStop``);
  failed, timed with how long it had run so far (a lower bound).

When the user is stopped (end of the run, Stop, Ctrl-C), iterations in flight get
the grace period to finish and are recorded as usual; none vanishes.
:class:`OpenModelUser` runs it inside a Locust user.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import gevent.pool
from gevent import GreenletExit
from locust import User, task

from loadkit.load.stages import FieldChecks

__all__ = [
    "DEFAULT_GRACEFUL_STOP_S",
    "ArrivalRate",
    "IterationDropped",
    "IterationInterrupted",
    "OpenModelUser",
]

DEFAULT_GRACEFUL_STOP_S = 30.0  # like k6's gracefulStop


class _RequestHook(Protocol):
    def fire(self, *, reverse: bool = False, **kwargs: Any) -> None: ...


class IterationDropped(Exception):
    """An iteration could not start on time: ``max_in_flight`` were running."""


class IterationInterrupted(Exception):
    """An iteration was still running after the grace period when the user stopped."""


@dataclass(frozen=True)
class ArrivalRate:
    """Start ``rate_per_s`` iterations per second, at most ``max_in_flight`` at once.

    ``duration_s`` bounds the schedule (None: until the user is stopped);
    ``graceful_stop_s`` is how long iterations in flight may finish once it is stopped.
    """

    rate_per_s: float
    max_in_flight: int = 100
    duration_s: float | None = None
    correct_omission: bool = True
    name: str = "iteration"
    graceful_stop_s: float = DEFAULT_GRACEFUL_STOP_S

    def __post_init__(self) -> None:
        check = FieldChecks(None, "arrival.")
        check.number("rate_per_s", self.rate_per_s, strict=True)
        check.count("max_in_flight", self.max_in_flight, minimum=1)
        if self.duration_s is not None:
            check.number("duration_s", self.duration_s, strict=True)
        check.number("graceful_stop_s", self.graceful_stop_s)

    def run(
        self,
        iteration: Callable[[], object],
        events: _RequestHook,
        clock: Callable[[], float] = time.perf_counter,
    ) -> tuple[int, int]:
        """Run the schedule; returns ``(started, dropped)``.

        Stopped (``GreenletExit``, as Locust stops a user), it lets the iterations in
        flight finish for ``graceful_stop_s``, fires the rest as interrupted, then stops.
        """
        pool = gevent.pool.Pool(self.max_in_flight)
        running: dict[gevent.Greenlet[Any, Any], float] = {}  # iteration -> actual start
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
                    self._fire(events, f"{self.name} dropped", None, error)
                    continue
                started += 1
                greenlet = pool.spawn(self._one, iteration, events, intended, clock)
                running[greenlet] = clock()
                greenlet.link(lambda done: running.pop(done, None))
            pool.join()
        except GreenletExit:
            self._stop(pool, running, events, clock)
            raise
        return started, dropped

    def _stop(
        self,
        pool: gevent.pool.Pool,
        running: dict[gevent.Greenlet[Any, Any], float],
        events: _RequestHook,
        clock: Callable[[], float],
    ) -> None:
        """Grace period for the iterations in flight, then fire the rest as interrupted."""
        with contextlib.suppress(GreenletExit):  # stopped again (Locust quitting): stop waiting
            pool.join(timeout=self.graceful_stop_s)
        now = clock()
        left = list(running.items())
        pool.kill(block=False)  # GreenletExit is no Exception: they fire no event of their own
        for _, since in left:
            seconds = now - since
            error = IterationInterrupted(
                f"still running {seconds:.1f}s in, after the {self.graceful_stop_s:g}s grace period"
            )
            self._fire(events, f"{self.name} interrupted", seconds * 1000.0, error)

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
    def _fire(events: _RequestHook, name: str, ms: float | None, error: Exception | None) -> None:
        # users/ imports this module (SessionUser's open model): theirs is imported on use
        from loadkit.users.events import fire

        fire(events, "ITER", name, None, response_time_ms=ms, exception=error)


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
