"""An open-model user for the stop tests, and a user's own stop listeners.

Each listener appends ``EVENT PID RUNNER`` to the file LK_EVENTS_LOG names, as a Locust
user's ``@events.test_stopping.add_listener`` would see the event. Settings come from
the environment: LK_RATE iterations/s, LK_MAX_IN_FLIGHT, LK_GRACE_S (the graceful stop).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from locust import FastHttpUser, events

import loadkit.locust  # noqa: F401  (wires metrics into Locust)
from loadkit.load.arrival import ArrivalRate, OpenModelUser

MAX_IN_FLIGHT = int(os.environ.get("LK_MAX_IN_FLIGHT", "100"))


def _noted(name: str) -> Any:
    def listener(environment: Any, **_kwargs: Any) -> None:
        log = os.environ.get("LK_EVENTS_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{name} {os.getpid()} {type(environment.runner).__name__}\n")

    return listener


events.test_stopping.add_listener(_noted("test_stopping"))
events.test_stop.add_listener(_noted("test_stop"))


class HangUser(OpenModelUser, FastHttpUser):
    concurrency = MAX_IN_FLIGHT  # a connection per iteration in flight: none queues
    arrival: ClassVar[ArrivalRate] = ArrivalRate(
        rate_per_s=float(os.environ.get("LK_RATE", "10")),
        max_in_flight=MAX_IN_FLIGHT,
        graceful_stop_s=float(os.environ.get("LK_GRACE_S", "2")),
        name="work",
    )

    def iteration(self) -> None:
        self.client.get("/work", name="/work")
