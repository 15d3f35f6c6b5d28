"""Locustfile for the reporter's real runs: the full loadkit plugin, two paced endpoints.

Each endpoint has its own user class with constant pacing, so a fault that slows
one endpoint leaves the other's rate and latency alone.
"""

from __future__ import annotations

import itertools

from locust import HttpUser, constant_pacing, task

import loadkit.locust  # noqa: F401  (wires metrics, scenario and faults into Locust)

_counter = itertools.count()


class HealthUser(HttpUser):
    wait_time = constant_pacing(0.1)

    @task
    def health(self) -> None:
        self.client.get("/health", name="/health")


class ExecuteUser(HttpUser):
    wait_time = constant_pacing(0.2)

    @task
    def execute(self) -> None:
        body = {"workspace": f"report-{next(_counter) % 4}", "command": "echo hi"}
        self.client.post("/execute", json=body, name="/execute")
