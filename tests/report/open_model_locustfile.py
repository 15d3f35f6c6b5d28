"""An open-model user for the graceful-stop tests: one GET per iteration.

Settings come from the environment (the test sets them): LK_RATE iterations/s,
LK_MAX_IN_FLIGHT, LK_GRACE_S (the graceful stop).
"""

from __future__ import annotations

import os
from typing import ClassVar

from locust import FastHttpUser

import loadkit.locust  # noqa: F401  (wires metrics into Locust)
from loadkit.load.arrival import ArrivalRate, OpenModelUser

MAX_IN_FLIGHT = int(os.environ.get("LK_MAX_IN_FLIGHT", "200"))


class StallUser(OpenModelUser, FastHttpUser):
    concurrency = MAX_IN_FLIGHT  # a connection per iteration in flight: none queues
    arrival: ClassVar[ArrivalRate] = ArrivalRate(
        rate_per_s=float(os.environ.get("LK_RATE", "50")),
        max_in_flight=MAX_IN_FLIGHT,
        graceful_stop_s=float(os.environ.get("LK_GRACE_S", "30")),
        name="work",
    )

    def iteration(self) -> None:
        self.client.get("/work", name="/work")
