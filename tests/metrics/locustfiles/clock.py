"""A locustfile for the fault-window tests: one user records the wall clock as a latency.

Every 10 ms it fires ``CLOCK now`` whose "response time" is the time since
``LK_CLOCK_ORIGIN`` (a Unix time, from the environment) in milliseconds, so a
phase's min/max say when its first and last event were recorded.
"""

import os
import time

from locust import User, constant, task

import loadkit.locust  # noqa: F401  (attaches loadkit)

ORIGIN = float(os.environ["LK_CLOCK_ORIGIN"])


class ClockUser(User):
    wait_time = constant(0.01)

    @task
    def now(self) -> None:
        self.environment.events.request.fire(
            request_type="CLOCK",
            name="now",
            response_time=(time.time() - ORIGIN) * 1000.0,
            response_length=0,
            exception=None,
            context={},
        )
