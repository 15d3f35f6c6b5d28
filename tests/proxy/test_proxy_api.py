"""The proxy's HTTP API against Toxiproxy's documented shapes, codes and errors.

A real ``loadkit proxy`` process on a free loopback port; raw HTTP via httpx
for shapes and status codes, then ToxiproxyClient for every call it offers.
"""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from loadkit.errors import FaultPlanError
from loadkit.proxy import ProxyApiError, ToxiproxyClient
from loadkit.proxy.process import ProxyProcess

PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}
TOXIC_KEYS = {"name", "type", "stream", "toxicity", "attributes"}


@pytest.fixture(scope="module")
def server():
    with ProxyProcess() as proxy:
        yield proxy


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.api_url, timeout=30, trust_env=False) as api:
        yield api
        api.post("/reset")


@pytest.fixture
def client(server):
    with ToxiproxyClient(server.api_url) as api:
        yield api


@pytest.fixture
def name(http):
    """A unique proxy name, deleted after the test if it was created."""
    proxy_name = f"p-{uuid.uuid4().hex[:8]}"
    yield proxy_name
    http.delete(f"/proxies/{proxy_name}")


def create(http, name, listen="127.0.0.1:0", upstream="127.0.0.1:9", **extra):
    return http.post(
        "/proxies", json={"name": name, "listen": listen, "upstream": upstream, **extra}
    )


def error(response) -> dict:
    return response.json()


def test_proxy_create_show_list_update_delete_shapes(http, name):
    created = create(http, name)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == PROXY_KEYS
    assert body["enabled"] is True and body["toxics"] == [] and body["upstream"] == "127.0.0.1:9"
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # port 0 became the real port
    assert http.get(f"/proxies/{name}").json() == body
    assert http.get("/proxies").json()[name] == body
    patched = http.patch(f"/proxies/{name}", json={"enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    posted = http.post(f"/proxies/{name}", json={"enabled": True})
    assert posted.status_code == 200 and posted.json()["enabled"] is True
    assert posted.json()["listen"] == body["listen"]
    deleted = http.delete(f"/proxies/{name}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert http.get(f"/proxies/{name}").status_code == 404


def test_created_disabled_proxy_does_not_listen(http, name):
    body = create(http, name, enabled=False).json()
    assert body["enabled"] is False and body["listen"] == "127.0.0.1:0"


def test_toxic_create_show_update_list_delete_shapes(http, name):
    create(http, name)
    created = http.post(
        f"/proxies/{name}/toxics", json={"type": "latency", "attributes": {"latency": 100}}
    )
    assert created.status_code == 200  # Toxiproxy answers 200, not 201, for toxics
    toxic = created.json()
    assert set(toxic) == TOXIC_KEYS
    assert toxic == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 100, "jitter": 0},
    }
    assert http.get(f"/proxies/{name}/toxics/latency_downstream").json() == toxic
    updated = http.post(
        f"/proxies/{name}/toxics/latency_downstream",
        json={"attributes": {"jitter": 5}, "toxicity": 0.5},
    )
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 100, "jitter": 5}
    assert updated.json()["toxicity"] == 0.5
    up = http.post(
        f"/proxies/{name}/toxics",
        json={"type": "bandwidth", "stream": "upstream", "name": "bw", "attributes": {"rate": 9}},
    ).json()
    listed = http.get(f"/proxies/{name}/toxics").json()
    assert [t["name"] for t in listed] == ["bw", "latency_downstream"]  # upstream first
    assert http.get(f"/proxies/{name}").json()["toxics"] == listed
    assert up["stream"] == "upstream"
    assert http.delete(f"/proxies/{name}/toxics/bw").status_code == 204
    assert http.get(f"/proxies/{name}/toxics/bw").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "nosuch"}, 400, "invalid toxic type"),
        ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid"),
        ({"type": "latency", "attributes": {"latency": -1}}, 400, "bad request body"),
        ({"type": "latency", "attributes": {"latency": "slow"}}, 400, "bad request body"),
        ({"type": "slicer", "attributes": {"average_size": 0}}, 400, "bad request body"),
        ({"type": "latency", "toxicity": 2}, 400, "bad request body"),
    ],
)
def test_bad_toxics_get_toxiproxy_errors(http, name, body, status, message):
    create(http, name)
    response = http.post(f"/proxies/{name}/toxics", json=body)
    assert response.status_code == status
    assert response.json()["status"] == status
    assert response.json()["error"].startswith(message)


def test_duplicate_and_missing_things_get_toxiproxy_errors(http, name):
    create(http, name)
    assert error(create(http, name)) == {"error": "proxy already exists", "status": 409}
    assert create(http, name).status_code == 409
    missing = http.post("/proxies", json={"upstream": "127.0.0.1:9"})
    assert missing.status_code == 400
    assert error(missing) == {"error": "missing required field: name", "status": 400}
    missing = http.post("/proxies", json={"name": "x"})
    assert error(missing) == {"error": "missing required field: upstream", "status": 400}
    nobody = http.get("/proxies/nosuch")
    assert nobody.status_code == 404
    assert error(nobody) == {"error": "proxy not found", "status": 404}
    toxic = {"type": "latency"}
    assert http.post(f"/proxies/{name}/toxics", json=toxic).status_code == 200
    again = http.post(f"/proxies/{name}/toxics", json=toxic)
    assert again.status_code == 409
    assert error(again) == {"error": "toxic already exists", "status": 409}
    gone = http.delete(f"/proxies/{name}/toxics/nosuch")
    assert error(gone) == {"error": "toxic not found", "status": 404}
    bad_json = http.post("/proxies", content=b"{not json")
    assert bad_json.status_code == 400 and error(bad_json)["error"].startswith("bad request body")


def test_listen_address_in_use_is_a_500_like_toxiproxy(http, name):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        response = create(http, name, listen=f"127.0.0.1:{port}")
    assert response.status_code == 500
    expected = f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert error(response) == {"error": expected, "status": 500}


def test_non_loopback_listen_is_refused_without_allow_remote(http, name):
    response = create(http, name, listen="0.0.0.0:0")
    assert response.status_code == 400
    assert "--allow-remote" in error(response)["error"]


def test_browsers_unknown_paths_and_wrong_methods(http):
    browser = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert browser.status_code == 403
    assert http.get("/nosuch").status_code == 404
    assert http.delete("/proxies").status_code == 405


def test_populate_creates_then_leaves_unchanged_proxies_alone(http, name):
    body = [{"name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}]
    first = http.post("/populate", json=body)
    assert first.status_code == 201
    (proxy,) = first.json()["proxies"]
    assert set(proxy) == PROXY_KEYS and proxy["enabled"] is True
    same = [{"name": name, "listen": proxy["listen"], "upstream": "127.0.0.1:9"}]
    assert http.post("/populate", json=same).json()["proxies"] == [proxy]
    bad = http.post("/populate", json=[{"name": "no-upstream"}])
    assert bad.status_code == 400
    assert error(bad)["error"] == "missing required field: upstream at proxy 1"


def test_reset_and_version(http, name):
    create(http, name)
    http.post(f"/proxies/{name}/toxics", json={"type": "timeout"})
    http.post(f"/proxies/{name}", json={"enabled": False})
    assert http.post("/reset").status_code == 204
    proxy = http.get(f"/proxies/{name}").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []
    version = http.get("/version")
    assert version.status_code == 200 and version.json()["version"].startswith("2.")


def test_client_round_trips_every_call(client, name):
    assert client.version().startswith("2.")
    created = client.create_proxy(name, "127.0.0.1:0", "127.0.0.1:9")
    assert client.get_proxy(name) == created
    assert client.list_proxies()[name] == created
    assert client.set_enabled(name, False)["enabled"] is False
    assert client.set_enabled(name, True)["enabled"] is True
    toxic = client.add_toxic(
        name, "latency", {"latency": 10}, name="lag", stream="upstream", toxicity=0.5
    )
    assert toxic == "lag"
    (info,) = client.list_toxics(name)
    assert info == {
        "name": "lag",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 0.5,
        "attributes": {"latency": 10, "jitter": 0},
    }
    assert client.add_toxic(name, "timeout", {"timeout": 5}) == "timeout_downstream"
    client.remove_toxic(name, "lag")
    client.reset()
    assert client.get_proxy(name)["toxics"] == []
    (populated,) = client.populate(
        [{"name": name, "listen": created["listen"], "upstream": "127.0.0.1:9"}]
    )
    assert populated["listen"] == created["listen"]
    client.delete_proxy(name)
    assert name not in client.list_proxies()


def test_client_errors_are_loadkit_errors(client, name):
    with pytest.raises(ProxyApiError) as missing:
        client.get_proxy(name)
    assert missing.value.status == 404 and "proxy not found" in str(missing.value)
    client.create_proxy(name, "127.0.0.1:0", "127.0.0.1:9")
    with pytest.raises(ProxyApiError) as duplicate:
        client.create_proxy(name, "127.0.0.1:0", "127.0.0.1:9")
    assert duplicate.value.status == 409
    with pytest.raises(FaultPlanError, match="invalid toxic type"):
        client.add_toxic(name, "nosuch", {})
    with pytest.raises(FaultPlanError, match="stream"):
        client.add_toxic(name, "latency", {}, stream="sideways")
    with pytest.raises(FaultPlanError, match="must be >= 0"):
        client.add_toxic(name, "latency", {"latency": -5})


def test_client_reports_an_unreachable_api():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"
        with ToxiproxyClient(url, timeout=5) as client, pytest.raises(ProxyApiError) as exc:
            client.version()
    assert exc.value.status == 0 and "cannot reach" in str(exc.value)
