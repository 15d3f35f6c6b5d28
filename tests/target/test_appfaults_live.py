"""App-level faults on the real target process over real HTTP and a real WebSocket."""

from __future__ import annotations

import time

import httpx
import pytest
import websocket

from loadkit.target.launcher import start_target

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py


@pytest.fixture(scope="module")
def faults_target(tmp_path_factory):
    """A target of this module's own: its faults must not hit other tests' requests."""
    with start_target(tmp_path_factory.mktemp("faults-target")) as running:
        yield running


@pytest.fixture
def http(faults_target):
    with httpx.Client(base_url=faults_target.url, timeout=30) as client:
        client.delete("/admin/faults")
        yield client
        client.delete("/admin/faults")


def test_latency_only_on_the_chosen_path(http):
    added = http.post("/admin/faults", json={"path": "/repos/slow", "latency_ms": 400})
    assert added.status_code == 200
    started = time.monotonic()
    assert http.get("/repos/slow/tasks").status_code == 200
    # A lower bound only: an injected delay cannot make a request faster.
    assert time.monotonic() - started >= 0.4
    assert http.get("/repos/fast/tasks").status_code == 200
    [fault] = http.get("/admin/faults").json()["faults"]
    assert fault["requests"] == 1  # /repos/fast was not delayed


def test_errors_on_the_chosen_path_until_deleted(http):
    http.post("/admin/faults", json={"path": "/sessions", "error_rate": 1.0, "status": 502})
    body = {"client_id": "c", "user_id": "u", "project": "p"}
    failed = http.post("/sessions", json=body)
    assert failed.status_code == 502
    assert failed.json()["injected"] is True
    assert http.post("/repos/r/tasks", json={"title": "x"}).status_code == 201
    assert http.get("/health").status_code == 200
    assert http.delete("/admin/faults").json()["faults"] == []
    assert http.post("/sessions", json=body).status_code == 201


def test_global_fault_rejects_websocket_handshake_but_not_admin(faults_target, http):
    http.post("/admin/faults", json={"error_rate": 1.0})
    url = faults_target.url.replace("http://", "ws://", 1) + "/ws"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(url, timeout=10)
    assert info.value.status_code == 503
    assert http.get("/admin/faults").status_code == 200
    assert http.get("/health").status_code == 200
    http.delete("/admin/faults")
    ws = websocket.create_connection(url, timeout=10)
    try:
        ws.send('{"op": "ping"}')
        assert '"pong"' in ws.recv()
    finally:
        ws.close()


def test_bad_fault_is_400_json(http):
    response = http.post("/admin/faults", json={"path": "/execute", "error_rate": 2})
    assert response.status_code == 400
    assert response.json()["field"] == "error_rate"
