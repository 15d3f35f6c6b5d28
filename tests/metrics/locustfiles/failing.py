"""Failures of several kinds, one of them carrying a planted secret.

Requests go out only during the first ``LOADKIT_TEST_ACTIVE_S`` seconds (2 by
default) after the test starts, then the users idle: Locust's failures CSV is
rewritten once a second but not at shutdown, so the quiet tail lets it hold
the final counts (the tests' independent witness).
"""

import os
import time
from typing import Any

from locust import HttpUser, constant, events, task

import loadkit.locust  # noqa: F401  (attaches loadkit)

SECRET = "s3cr3t-planted"
ACTIVE_S = float(os.environ.get("LOADKIT_TEST_ACTIVE_S", "2"))
_started = [0.0]


@events.test_start.add_listener
def _on_start(**_kwargs: Any) -> None:
    _started[0] = time.time()


class FailingUser(HttpUser):
    wait_time = constant(0.02)

    def _active(self) -> bool:
        if time.time() - _started[0] < ACTIVE_S:
            return True
        time.sleep(0.2)
        return False

    @task(3)
    def fast(self) -> None:
        if self._active():
            self.client.get("/fast")

    @task(2)
    def fail(self) -> None:
        if self._active():
            self.client.get("/fail")

    @task(1)
    def fail_with_token(self) -> None:
        if self._active():  # the message quotes the URL, token included
            url = f"/fail?token={SECRET}"
            with self.client.get(url, name="/fail-token", catch_response=True) as response:
                response.failure(f"status {response.status_code} from {response.url}")

    @task(1)
    def closed(self) -> None:
        if self._active():
            with self.client.get("/fast", name="/checked", catch_response=True) as response:
                response.failure(f"connection closed; Authorization: Bearer {SECRET}")
