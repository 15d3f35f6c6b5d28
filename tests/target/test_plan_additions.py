"""What the shipped scenarios need from the target (issue 11): the session activation
rate limit and listing, the breaker's ``opened_after``, the cleanup horizon.

The limit and the breaker are checked exactly with fake clocks; the routes over HTTP
(Starlette's in-process TestClient on the real routes and a real SQLite file).
"""

from __future__ import annotations

import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from loadkit.errors import ConfigError
from loadkit.scenario.target_options import parse_target_options
from loadkit.target import sessions
from loadkit.target.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from loadkit.target.config import TargetConfig
from loadkit.target.ratelimit import ActivationLimit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the activation rate limit ----------------------------------------------------------


def test_a_client_starts_its_burst_at_once_then_at_the_rate():
    clock = FakeClock()
    limit = ActivationLimit(rate_per_s=2.0, burst=3, clock=clock)
    assert [limit.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a") == pytest.approx(0.5)  # one token comes back in 1/2 s
    assert limit.take("b") == 0.0  # per client
    clock.now += 0.5
    assert limit.take("a") == 0.0
    assert limit.take("a") > 0
    clock.now += 60  # refilled, never above the burst
    assert [limit.take("a") for _ in range(4)][-1] > 0
    assert limit.refused == 3
    assert ActivationLimit.retry_after(0.2) == "1" and ActivationLimit.retry_after(1.5) == "2"


def test_no_rate_is_no_limit():
    limit = ActivationLimit(rate_per_s=0.0, burst=1)
    assert not limit.enabled
    assert all(limit.take("a") == 0.0 for _ in range(100))


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"session_activation_rate": -1.0}, "--session-activation-rate"),
        ({"session_activation_burst": 0}, "--session-activation-burst"),
    ],
)
def test_bad_limit_options_name_their_flag(tmp_path, options, flag):
    with pytest.raises(ConfigError) as info:
        TargetConfig(data_dir=tmp_path, **options)
    assert info.value.field == flag


@pytest.mark.parametrize("name", ["session_activation_burst", "sync_max_changes"])
def test_a_scenario_asking_a_limit_of_0_is_refused_before_anything_starts(name):
    with pytest.raises(ConfigError) as info:
        parse_target_options({name: 0})
    assert info.value.field == f"target_options.{name}" and ">= 1" in str(info.value)
    assert parse_target_options({name: 1}) == {name: 1}


def _client(tmp_path, **options) -> TestClient:
    config = TargetConfig(data_dir=tmp_path, cold_start_ms=0, **options)
    return TestClient(Starlette(routes=sessions.routes(config)))


def _open(client: TestClient, client_id: str, user: str):
    return client.post("/sessions", json={"client_id": client_id, "user_id": user,
                                          "project": "p"})  # fmt: skip


def test_over_the_limit_an_activation_is_a_429_that_creates_nothing(tmp_path):
    # one activation per 100 s after the first 2: no token comes back during the test
    client = _client(tmp_path, session_activation_rate=0.01, session_activation_burst=2)
    assert [_open(client, "c1", f"u{i}").status_code for i in range(2)] == [201, 201]
    refused = _open(client, "c1", "u2")
    assert refused.status_code == 429
    assert refused.json()["field"] == "client_id" and "retry later" in refused.json()["error"]
    assert refused.headers["Retry-After"] == "100"
    assert _open(client, "c2", "u0").status_code == 201  # another client has its own
    listed = client.get("/sessions", params={"client_id": "c1"}).json()["sessions"]
    assert sorted(s["user_id"] for s in listed) == ["u0", "u1"]  # the 429 made none


def test_without_the_option_bursts_are_not_limited(tmp_path):
    client = _client(tmp_path)
    assert {_open(client, "c1", f"u{i}").status_code for i in range(30)} == {201}


def test_the_listing_shows_what_a_client_left_open(tmp_path):
    client = _client(tmp_path)
    ids = [_open(client, "c1", f"u{i}").json()["session_id"] for i in range(3)]
    _open(client, "c2", "x")
    assert client.delete(f"/sessions/{ids[1]}").status_code == 200
    listed = client.get("/sessions?client_id=c1").json()["sessions"]
    assert [s["session_id"] for s in listed] == [ids[0], ids[2]]  # oldest first
    assert {s["state"] for s in listed} == {"ready"} and all(s["container_id"] for s in listed)
    assert len(client.get("/sessions").json()["sessions"]) == 3  # every client
    assert len(client.get("/sessions?limit=1").json()["sessions"]) == 1
    assert client.get("/sessions?client_id=nobody").json() == {"sessions": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=-1", "limit"), ("limit=x", "limit"),
     ("limit=1001", "limit"), ("client_id=", "client_id")],
)  # fmt: skip
def test_a_bad_listing_query_is_a_400_naming_the_field(tmp_path, query, field):
    answer = _client(tmp_path).get(f"/sessions?{query}")
    assert answer.status_code == 400 and answer.json()["field"] == field


# -- the breaker says after how many failures it opened --------------------------------


def test_opened_after_is_the_threshold_while_open_and_null_when_closed():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=4, open_s=1.0, clock=clock)
    for _ in range(3):
        breaker.failure()
    assert breaker.state == CLOSED and breaker.opened_after is None
    breaker.failure()
    assert breaker.state == OPEN and breaker.opened_after == 4
    breaker.failure()  # a call that was in flight when it opened
    clock.now += 1.5
    assert breaker.state == HALF_OPEN and breaker.allow()
    breaker.failure()  # the trial failed: open again, still opened by the first 4
    assert breaker.state == OPEN and breaker.opened_after == 4 and breaker.failures == 6
    clock.now += 1.5
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.opened_after is None


def test_a_breaker_that_never_opens_never_says_it_opened():
    breaker = CircuitBreaker(failure_threshold=2, never_opens=True)
    for _ in range(5):
        breaker.failure()
    assert breaker.state == CLOSED and breaker.opened_after is None


# -- the gateway counts callbacks that came on a retry ----------------------------------


def test_health_counts_callbacks_delivered_and_those_retried(target):
    job = httpx.post(f"{target.url}/execute", json={"workspace": "cb", "command": "echo hi"})
    request_id = job.json()["request_id"]

    def delivered() -> dict | None:
        callbacks = httpx.get(f"{target.url}/health").json()["callbacks"]
        return callbacks if callbacks["delivered"] >= 1 else None

    deadline = time.monotonic() + 30
    while (counts := delivered()) is None:
        assert time.monotonic() < deadline, "the agent's callback never came"
        time.sleep(0.05)
    assert counts == {"delivered": 1, "retried": 0}
    again = {"state": "completed", "output": "hi", "attempts": 3}  # as if out of the outbox
    answer = httpx.post(f"{target.url}/internal/results/{request_id}", json=again)
    assert answer.status_code == 200 and answer.json()["applied"] is False  # applied once
    assert httpx.get(f"{target.url}/health").json()["callbacks"] == {"delivered": 2, "retried": 1}
