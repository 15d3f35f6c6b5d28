"""A locustfile for the metrics tests against the reference target."""

from locust import FastHttpUser, constant, task

import loadkit.locust  # noqa: F401  (attaches loadkit)


class TargetUser(FastHttpUser):
    wait_time = constant(0.02)

    @task(3)
    def health(self) -> None:
        self.client.get("/health")

    @task(1)
    def execute(self) -> None:
        self.client.post("/execute", json={"workspace": "metrics", "command": "echo hi"})
