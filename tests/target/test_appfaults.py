"""App-level faults: validation, matching, errors only where chosen, clearing, expiry.

Starlette's in-process TestClient over the real routes wrapped in the real
middleware; a seeded RNG makes partial error rates reproducible.
"""

from __future__ import annotations

import random

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from loadkit.target import appfaults
from loadkit.target.appfaults import AppFault, AppFaultsMiddleware, FaultRegistry, parse_fault
from loadkit.target.config import TargetConfig


async def ok(request):
    return JSONResponse({"ok": True, "path": request.url.path})


async def ws_echo(websocket):
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def build(tmp_path, registry=None, seed=7):
    config = TargetConfig(data_dir=tmp_path)
    registry = registry or FaultRegistry()
    plain = [
        Route(p, ok, methods=["GET", "POST"])
        for p in ("/execute", "/execute/{x}", "/executex", "/status/{x}", "/health", "/admin/x")
    ]
    app = Starlette(
        routes=[*plain, WebSocketRoute("/ws", ws_echo), *appfaults.routes(config, registry)]
    )
    return TestClient(AppFaultsMiddleware(app, registry, random.Random(seed))), registry


@pytest.fixture
def client(tmp_path):
    with build(tmp_path)[0] as c:
        yield c


def test_errors_only_on_the_chosen_prefix_and_cleared_by_delete(client):
    added = client.post("/admin/faults", json={"path": "/execute", "error_rate": 1.0})
    assert added.status_code == 200
    [fault] = added.json()["faults"]
    assert fault["path"] == "/execute"
    assert fault["status"] == 503

    for path in ("/execute", "/execute/123"):
        response = client.post(path)
        assert response.status_code == 503
        assert response.json()["injected"] is True
        assert set(response.json()) >= {"error", "field"}
    for path in ("/executex", "/status/1", "/health", "/admin/x"):
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/faults").json()["faults"][0]["errors"] == 2

    cleared = client.delete("/admin/faults")
    assert cleared.json() == {"faults": [], "store": None, "disk": None, "cleared": 1}
    assert client.post("/execute").status_code == 200


def test_global_fault_spares_admin_and_health_and_covers_websocket(client):
    client.post("/admin/faults", json={"error_rate": 1.0, "status": 500})
    assert client.get("/status/1").status_code == 500
    assert client.post("/execute").status_code == 500
    assert client.get("/health").status_code == 200
    assert client.get("/admin/faults").status_code == 200
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as ws:
        ws.receive_text()
    client.delete("/admin/faults")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hello"


def test_most_specific_fault_wins_and_delete_by_path(client):
    client.post("/admin/faults", json={"error_rate": 1.0, "status": 500})
    client.post("/admin/faults", json={"path": "/execute", "error_rate": 1.0, "status": 429})
    assert client.post("/execute").status_code == 429
    assert client.get("/status/1").status_code == 500
    # A second POST for the same prefix replaces the first.
    client.post("/admin/faults", json={"path": "/execute", "error_rate": 1.0, "status": 502})
    assert len(client.get("/admin/faults").json()["faults"]) == 2
    assert client.post("/execute").status_code == 502

    one = client.delete("/admin/faults", params={"path": "/execute"})
    assert one.json()["cleared"] == 1
    assert [f["path"] for f in one.json()["faults"]] == [None]
    assert client.post("/execute").status_code == 500
    assert client.delete("/admin/faults", params={"path": ""}).json()["faults"] == []
    assert client.post("/execute").status_code == 200


def test_partial_error_rate_mixes_outcomes(client):
    client.post("/admin/faults", json={"path": "/status", "error_rate": 0.5})
    codes = [client.get("/status/1").status_code for _ in range(200)]
    assert set(codes) == {200, 503}
    fault = client.get("/admin/faults").json()["faults"][0]
    assert fault["requests"] == 200
    assert fault["errors"] == codes.count(503)


def test_latency_is_added_to_the_chosen_path(client):
    client.post("/admin/faults", json={"path": "/status", "latency_ms": 50})
    assert client.get("/status/1").status_code == 200  # delayed, not failed
    assert client.get("/execute").status_code == 200
    fault = client.get("/admin/faults").json()["faults"][0]
    assert (fault["latency_ms"], fault["requests"], fault["errors"]) == (50.0, 1, 0)


def test_for_s_makes_a_fault_expire():
    now = [100.0]
    registry = FaultRegistry(clock=lambda: now[0])
    registry.set(parse_fault({"path": "/execute", "error_rate": 1, "for_s": 5}, now[0]))
    assert registry.match("/execute") is not None
    now[0] += 5.0
    assert registry.match("/execute") is None
    assert registry.list() == []


def test_registry_matching_rules():
    registry = FaultRegistry()
    registry.set(AppFault(path="/repos/", latency_ms=1))
    assert registry.match("/repos/r1/tasks") is not None
    assert registry.match("/repos") is None
    assert registry.match("/admin/faults") is None
    registry.set(AppFault(path=None, error_rate=1))
    assert registry.match("/health") is None
    assert registry.match("/anything").path is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "/execute"}, None),  # does nothing
        ({"path": "execute", "error_rate": 1}, "path"),
        ({"path": 5, "error_rate": 1}, "path"),
        ({"path": "/admin", "error_rate": 1}, "path"),
        ({"path": "/admin/faults", "error_rate": 1}, "path"),
        ({"path": "/health", "error_rate": 1}, "path"),
        ({"path": "/", "error_rate": 1}, "path"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"error_rate": "half"}, "error_rate"),
        ({"error_rate": True}, "error_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": 10_000_000}, "latency_ms"),
        ({"error_rate": 1, "status": 200}, "status"),
        ({"error_rate": 1, "status": "503"}, "status"),
        ({"error_rate": 1, "status": 600}, "status"),
        ({"error_rate": 1, "for_s": 0}, "for_s"),
        ({"error_rate": 1, "latency": 100}, "latency"),
    ],
)
def test_bad_faults_are_400_naming_the_field(client, body, field):
    response = client.post("/admin/faults", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert client.get("/admin/faults").json()["faults"] == []


def test_bad_bodies(client):
    for content in (b"", b"{", b"[]", b"NaN"):
        response = client.post(
            "/admin/faults", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert set(response.json()) == {"error", "field"}
    nan = client.post(
        "/admin/faults",
        content=b'{"latency_ms": NaN}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 400
    assert nan.json()["field"] == "latency_ms"


def test_routes_and_middleware_share_one_registry(tmp_path):
    config = TargetConfig(data_dir=tmp_path)
    registry = appfaults.FaultRegistry()
    routes = appfaults.routes(config, registry)
    wrapped = appfaults.AppFaultsMiddleware(
        Starlette(routes=[*routes, Route("/execute", ok)]), registry
    )
    with TestClient(wrapped) as client:
        client.post("/admin/faults", json={"path": "/execute", "error_rate": 1})
        assert client.get("/execute").status_code == 503
