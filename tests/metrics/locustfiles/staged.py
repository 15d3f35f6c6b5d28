"""A locustfile with a two-stage shape that reports its current stage (metrics tests)."""

from locust import HttpUser, LoadTestShape, constant, task

import loadkit.locust  # noqa: F401  (attaches loadkit)

STAGES = [
    {"index": 0, "name": "warm", "users": 2, "spawn_rate": 10.0, "duration_s": 2.0},
    {"index": 1, "name": "peak", "users": 4, "spawn_rate": 10.0, "duration_s": 2.0},
]


class StagedUser(HttpUser):
    wait_time = constant(0.05)

    @task
    def fast(self) -> None:
        self.client.get("/fast")


class TwoStages(LoadTestShape):
    def current_stage(self):
        elapsed = self.get_run_time()
        end = 0.0
        for stage in STAGES:
            end += stage["duration_s"]
            if elapsed < end:
                return stage
        return None

    def tick(self):
        stage = self.current_stage()
        return None if stage is None else (stage["users"], stage["spawn_rate"])
