"""Sustained job throughput of the reference target: POST /execute (echo) + status polling.

Starts the real target (gateway + agent) on 127.0.0.1, then runs Locust
headless (as a library, FastHttpUser, no wait time) for DURATION seconds:
each user submits ``echo`` jobs and polls ``GET /status/{id}`` every 10 ms until
the job is terminal. The job's submit -> terminal time is fired as a Locust
request event ``JOB echo``. Repeated ROUNDS times on a fresh target; prints
one JSON object with each round's figures and their medians. Load generator,
gateway and agent share the (noisy, 2-core) machine.

    .venv/bin/python bench/target_throughput.py [--users 20] [--duration 15] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

from loadkit.target.launcher import start_target

TERMINAL = {"completed", "failed", "timeout", "interrupted"}


class JobUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def echo_job(self) -> None:
        started = time.perf_counter()
        with self.client.post(
            "/execute", json={"workspace": "bench", "command": "echo hello"}, catch_response=True
        ) as response:
            if response.status_code != 202:
                response.failure(f"HTTP {response.status_code}")
                return
            request_id = response.json()["request_id"]
        while True:
            status = self.client.get(f"/status/{request_id}", name="/status/[id]")
            state = status.json()["state"] if status.status_code == 200 else "error"
            if state in TERMINAL or state == "error":
                break
            gevent.sleep(0.01)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(
            request_type="JOB",
            name="echo",
            response_time=elapsed_ms,
            response_length=0,
            exception=None if state == "completed" else RuntimeError(state),
            context={},
        )


def one_round(users: int, duration_s: float, concurrency: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as data_dir,
        start_target(data_dir, concurrency=concurrency) as target,
    ):
        env = Environment(user_classes=[JobUser], host=target.url)
        runner = env.create_local_runner()
        runner.start(users, spawn_rate=users)
        gevent.sleep(2.0)  # warm-up: all users spawned, connections open
        env.stats.reset_all()
        began = time.monotonic()
        gevent.sleep(duration_s)
        elapsed = time.monotonic() - began
        execute = env.stats.get("/execute", "POST")
        status = env.stats.get("/status/[id]", "GET")
        job = env.stats.get("echo", "JOB")
        figures = {
            "jobs_per_s": job.num_requests / elapsed,
            "execute_per_s": execute.num_requests / elapsed,
            "requests_per_s": env.stats.total.num_requests / elapsed,
            "execute_p50_ms": execute.get_response_time_percentile(0.5),
            "execute_p99_ms": execute.get_response_time_percentile(0.99),
            "status_p50_ms": status.get_response_time_percentile(0.5),
            "status_p99_ms": status.get_response_time_percentile(0.99),
            "job_p50_ms": job.get_response_time_percentile(0.5),
            "job_p99_ms": job.get_response_time_percentile(0.99),
            "failures": env.stats.total.num_failures,
        }
        runner.quit()
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="agent concurrency")
    args = parser.parse_args()
    rounds = [
        one_round(args.users, min(args.duration, 20.0), args.concurrency)
        for _ in range(max(1, args.rounds))
    ]
    medians = {key: round(statistics.median(r[key] for r in rounds), 2) for key in rounds[0]}
    print(
        json.dumps(
            {
                "bench": "target_throughput",
                "users": args.users,
                "duration_s": args.duration,
                "agent_concurrency": args.concurrency,
                "median": medians,
                "rounds": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
