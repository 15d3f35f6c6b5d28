"""A locustfile with the whole loadkit plugin (metrics + scenario + faults), for the fault tests."""

from __future__ import annotations

import os

from locust import HttpUser, constant, task

import loadkit.locust  # noqa: F401  (wires metrics, scenario and faults into Locust)


class Pinger(HttpUser):
    wait_time = constant(0.05)

    @task
    def ping(self) -> None:
        self.client.get(os.environ.get("LOADKIT_TEST_PATH", "/health"), name="GET /health")
