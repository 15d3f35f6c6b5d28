"""Sessions: cold/warm starts, idle -> expired, activity, delete, bad input.

The state machine is checked exactly with a fake clock on the store, and over
HTTP (Starlette's in-process TestClient on the real routes and a real SQLite
file) with short real timings, polling with generous deadlines.
"""

from __future__ import annotations

import time

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from loadkit.target import sessions
from loadkit.target.config import TargetConfig
from loadkit.target.sessions import SessionStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def poll(fn, until, deadline_s=20.0, every_s=0.02):
    end = time.monotonic() + deadline_s
    while True:
        value = fn()
        if until(value):
            return value
        assert time.monotonic() < end, f"gave up waiting; last value {value!r}"
        time.sleep(every_s)


def make_client(tmp_path, **timings) -> TestClient:
    config = TargetConfig(data_dir=tmp_path, **timings)
    return TestClient(Starlette(routes=sessions.routes(config)))


NEW = {"client_id": "c1", "user_id": "alice", "project": "p1"}


# -- the state machine, exactly (fake clock) ------------------------------------


def test_store_state_machine_with_fake_clock(tmp_path):
    clock = FakeClock()
    config = TargetConfig(
        data_dir=tmp_path,
        cold_start_ms=800,
        warm_start_ms=50,
        idle_after_s=30.0,
        expire_after_s=60.0,
    )
    store = SessionStore(config, clock=clock)
    cold = store.create("c1", "alice", "p1")
    assert not cold.warm
    assert store.to_json(cold)["state"] == "starting"
    assert store.to_json(cold)["ready_at"] is None

    clock.now += 0.5
    warm = store.create("c2", "alice", "p1")  # the cold container is still booting
    assert warm.warm
    assert warm.ready_at == pytest.approx(cold.ready_at)  # cannot be up before the container

    other = store.create("c3", "alice", "p2")  # other project: its own cold container
    assert not other.warm

    clock.now = cold.created_at + 0.8
    assert store.to_json(store.get(cold.session_id))["state"] == "ready"
    clock.now = cold.created_at + 0.8 + 29.9
    assert store.to_json(store.get(cold.session_id))["state"] == "ready"
    clock.now = cold.created_at + 0.8 + 30.0
    assert store.to_json(store.get(cold.session_id))["state"] == "idle"

    store.touch(cold.session_id)  # activity brings an idle session back to ready
    assert store.to_json(store.get(cold.session_id))["state"] == "ready"
    clock.now += 30.0 + 59.9
    assert store.to_json(store.get(cold.session_id))["state"] == "idle"
    clock.now += 0.1
    assert store.to_json(store.get(cold.session_id))["state"] == "expired"
    with pytest.raises(Exception) as info:
        store.touch(cold.session_id)
    assert info.value.status == 409

    # Once every session of the container has expired, the next start is cold again.
    clock.now += 1000.0
    assert not store.create("c4", "alice", "p1").warm
    # ... and a start while a live session exists is warm, ready after the warm start.
    again = store.create("c5", "alice", "p1")
    assert again.warm
    assert again.ready_at - again.created_at == pytest.approx(0.8)  # shares the booting one
    clock.now += 5.0
    late = store.create("c6", "alice", "p1")
    assert late.warm
    assert late.ready_at - late.created_at == pytest.approx(0.05)


def test_counts_and_purge(tmp_path):
    clock = FakeClock()
    config = TargetConfig(data_dir=tmp_path, idle_after_s=1.0, expire_after_s=1.0)
    store = SessionStore(config, clock=clock)
    for user in ("a", "b", "c"):
        store.create("c", user, "p")
    assert store.counts()["starting"] == 3
    clock.now += 5.0
    assert store.counts() == {"starting": 0, "ready": 0, "idle": 0, "expired": 3}
    assert store.purge_expired(clock.now) == 0  # kept a while for GET
    assert store.purge_expired(clock.now + sessions.PURGE_AFTER_S) == 3
    assert sum(store.counts().values()) == 0


# -- over HTTP, real timings -----------------------------------------------------


def test_cold_start_is_slower_than_warm_start(tmp_path):
    with make_client(tmp_path, cold_start_ms=1500, warm_start_ms=20) as client:
        first = client.post("/sessions", json=NEW)
        assert first.status_code == 201
        assert first.json()["state"] == "starting"
        assert first.json()["warm"] is False
        first_id = first.json()["session_id"]
        poll(lambda: client.get(f"/sessions/{first_id}").json()["state"], lambda s: s == "ready")

        second = client.post("/sessions", json={**NEW, "client_id": "c2"})
        assert second.status_code == 201
        assert second.json()["warm"] is True
        second_id = second.json()["session_id"]
        ready = poll(lambda: client.get(f"/sessions/{second_id}").json(), lambda s: s["ready_at"])
        cold = client.get(f"/sessions/{first_id}").json()
        # Ordering, not speed: the warm start is the configured 20 ms, the cold one 1500 ms.
        assert ready["ready_at"] - ready["created_at"] < cold["ready_at"] - cold["created_at"]
        assert set(ready) >= {
            "session_id", "client_id", "user_id", "project", "state", "warm",
            "created_at", "ready_at", "last_active_at",
        }  # fmt: skip
        assert ready["client_id"] == "c2"
        assert ready["user_id"] == "alice"
        assert ready["project"] == "p1"


def test_ready_idle_expired_and_activity(tmp_path):
    timings = {"cold_start_ms": 10, "idle_after_s": 0.4, "expire_after_s": 0.6}
    with make_client(tmp_path, **timings) as client:
        sid = client.post("/sessions", json=NEW).json()["session_id"]

        def state():
            return client.get(f"/sessions/{sid}").json()["state"]

        poll(state, lambda s: s == "idle")
        touched = client.post(f"/sessions/{sid}/activity")
        assert touched.status_code == 200
        assert touched.json()["state"] == "ready"
        poll(state, lambda s: s == "expired")
        refused = client.post(f"/sessions/{sid}/activity")
        assert refused.status_code == 409
        assert refused.json()["field"] == "session_id"
        assert "expired" in refused.json()["error"]
        # The container is gone: a new session of the same user+project is cold.
        assert client.post("/sessions", json=NEW).json()["warm"] is False


def test_delete_and_unknown_ids(tmp_path):
    with make_client(tmp_path) as client:
        sid = client.post("/sessions", json=NEW).json()["session_id"]
        deleted = client.delete(f"/sessions/{sid}")
        assert deleted.status_code == 200
        assert deleted.json() == {"session_id": sid, "deleted": True}
        for response in (
            client.get(f"/sessions/{sid}"),
            client.delete(f"/sessions/{sid}"),
            client.post(f"/sessions/{sid}/activity"),
        ):
            assert response.status_code == 404
            assert response.json()["field"] == "session_id"
        # A deleted session's container does not make the next start warm.
        assert client.post("/sessions", json=NEW).json()["warm"] is False


def test_sessions_survive_a_restart(tmp_path):
    with make_client(tmp_path) as client:
        sid = client.post("/sessions", json=NEW).json()["session_id"]
    with make_client(tmp_path) as client:
        assert client.get(f"/sessions/{sid}").json()["user_id"] == "alice"
        assert client.post("/sessions", json=NEW).json()["warm"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u", "project": "p"}, "client_id"),
        ({"client_id": "c", "project": "p"}, "user_id"),
        ({"client_id": "c", "user_id": "u"}, "project"),
        ({"client_id": 7, "user_id": "u", "project": "p"}, "client_id"),
        ({"client_id": "c", "user_id": "", "project": "p"}, "user_id"),
        ({"client_id": "c", "user_id": "u", "project": ["p"]}, "project"),
        ({"client_id": "c", "user_id": "u", "project": "p" * 300}, "project"),
    ],
)
def test_bad_fields_are_400_naming_the_field(tmp_path, body, field):
    with make_client(tmp_path) as client:
        response = client.post("/sessions", json=body)
        assert response.status_code == 400
        assert response.json()["field"] == field
        assert field in response.json()["error"]


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"", 400),
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
        (b'{"client_id": "' + b"x" * 2_000_000 + b'"}', 413),
    ],
)
def test_bad_bodies_are_4xx_json(tmp_path, content, status):
    with make_client(tmp_path) as client:
        response = client.post(
            "/sessions", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == status
        assert set(response.json()) == {"error", "field"}


def test_long_poll_answers_when_ready(tmp_path):
    with make_client(tmp_path, cold_start_ms=300) as client:
        sid = client.post("/sessions", json=NEW).json()["session_id"]
        waited = client.get(f"/sessions/{sid}", params={"wait_ready_s": 30})
        assert waited.status_code == 200
        assert waited.json()["state"] == "ready"
        # A zero wait answers at once (the session may be in any state).
        assert client.get(f"/sessions/{sid}", params={"wait_ready_s": 0}).status_code == 200


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "61", "inf"])
def test_bad_wait_is_400(tmp_path, value):
    with make_client(tmp_path) as client:
        sid = client.post("/sessions", json=NEW).json()["session_id"]
        response = client.get(f"/sessions/{sid}", params={"wait_ready_s": value})
        assert response.status_code == 400
        assert response.json()["field"] == "wait_ready_s"
