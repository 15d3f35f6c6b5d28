"""A locustfile for the metrics tests: three endpoints, one of them always failing."""

from locust import HttpUser, constant, task

import loadkit.locust  # noqa: F401  (attaches loadkit)


class BasicUser(HttpUser):
    wait_time = constant(0.01)

    @task(5)
    def fast(self) -> None:
        self.client.get("/fast")

    @task(2)
    def slow(self) -> None:
        self.client.get("/slow?ms=15", name="/slow")

    @task(1)
    def fail(self) -> None:
        self.client.get("/fail")
