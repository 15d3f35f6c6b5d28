"""Bad requests get a 4xx JSON error: never a 500, never a file outside the data dir."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from loadkit.target import commands

GOOD = {"workspace": "ws", "command": "echo hi"}
ANY_FIELD = object()  # the body may be refused as a whole or for the field

BAD_BODIES = [
    (b"", 400, None),
    (b"{bad json", 400, None),
    (b"[1, 2]", 400, None),
    (b'"just a string"', 400, None),
    (b"\xff\xfe not utf-8", 400, None),
    (json.dumps({"command": "echo hi"}).encode(), 400, "workspace"),
    (json.dumps({"workspace": "ws"}).encode(), 400, "command"),
    (json.dumps({"workspace": 12, "command": "echo hi"}).encode(), 400, "workspace"),
    (json.dumps({"workspace": "ws", "command": ["echo"]}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "rm -rf /"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "echo; ls"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": ""}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "sleep forever"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "sleep -1"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "bytes 99999999999"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "cpu 1e9"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "set =1"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "set X"}).encode(), 400, "command"),
    (json.dumps({"workspace": "ws", "command": "get ../X"}).encode(), 400, "command"),
    (json.dumps({**GOOD, "timeout_ms": "soon"}).encode(), 400, "timeout_ms"),
    (json.dumps({**GOOD, "timeout_ms": 0}).encode(), 400, "timeout_ms"),
    (json.dumps({**GOOD, "timeout_ms": True}).encode(), 400, "timeout_ms"),
    (json.dumps({**GOOD, "timeout_ms": 10**20}).encode(), 400, "timeout_ms"),
    (b'{"workspace": "ws", "command": "echo \\ud800"}', 400, ANY_FIELD),
]

BAD_WORKSPACES = [
    "../x",
    "..",
    ".hidden",
    "/abs",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "",
    "x" * 65,
    "sp ace",
    "nul\x00",
    "ü",
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_execute_bodies_get_a_json_4xx(shared_target, body, status, field):
    response = httpx.post(
        f"{shared_target.url}/execute", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) >= {"error", "field"}
    assert field is ANY_FIELD or error["field"] == field
    assert error["error"] and "\n" not in error["error"]


@pytest.mark.parametrize("workspace", BAD_WORKSPACES)
def test_bad_workspace_names_are_rejected(target, workspace):
    outside_before = set(os.listdir(target.data_dir.parent))
    response = httpx.post(
        f"{target.url}/execute", json={"workspace": workspace, "command": "set X=1"}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "workspace"
    assert set(os.listdir(target.data_dir.parent)) == outside_before


def test_oversized_body_is_413(shared_target):
    big = {"workspace": "ws", "command": "echo " + "x" * (2 * 1024 * 1024)}
    response = httpx.post(f"{shared_target.url}/execute", json=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]

    # Without a Content-Length (chunked), the limit still holds.
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = httpx.post(f"{shared_target.url}/execute", content=chunks())
    assert response.status_code == 413


def test_wrong_methods_and_paths_are_4xx(shared_target):
    wrong_method = httpx.get(f"{shared_target.url}/execute")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "Method Not Allowed", "field": None}
    unknown = httpx.get(f"{shared_target.url}/no/such/path")
    assert unknown.status_code == 404 and unknown.json()["error"] == "Not Found"
    bad_ttl = httpx.post(f"{shared_target.url}/cleanup/run", json={"ttl_s": "old"})
    assert bad_ttl.status_code == 400 and bad_ttl.json()["field"] == "ttl_s"


def test_bad_agent_calls_are_4xx(shared_target):
    url = shared_target.url
    assert httpx.post(f"{url}/internal/claim", json={"max": 1}).status_code == 400
    assert httpx.post(f"{url}/internal/claim", json={"agent_id": "a", "max": -1}).status_code == 400
    result = {"state": "exploded", "output": ""}
    assert httpx.post(f"{url}/internal/results/x", json=result).status_code == 400
    result = {"state": "completed", "output": 5}
    assert httpx.post(f"{url}/internal/results/x", json=result).status_code == 400
    result = {"state": "completed", "output": ""}
    assert httpx.post(f"{url}/internal/results/unknown", json=result).status_code == 404
    held = {"agent_id": "a", "held": "not-a-list"}
    assert httpx.post(f"{url}/internal/heartbeat", json=held).status_code == 400


BAD_FAULTS = [
    ({"store": "down"}, "store"),
    ({"store": True}, "store"),
    ({"disk": "empty"}, "disk"),
    ({"disk": None}, "disk"),
    ({"store": "unavailable", "disk": "full"}, "disk"),
    ({"store": "unavailable", "path": "/execute"}, "path"),
    ({"disk": "full", "error_rate": 1.0}, "error_rate"),
    ({"store": "unavailable", "for_s": -1}, "for_s"),
    ({"store": "unavailable", "for_s": 0}, "for_s"),
    ({"disk": "full", "for_s": "soon"}, "for_s"),
    ({"cpu": "hot"}, "cpu"),
    ({"stroe": "unavailable"}, "stroe"),
]


@pytest.mark.parametrize(("body", "field"), BAD_FAULTS)
def test_bad_fault_bodies_name_the_field(shared_target, body, field):
    response = httpx.post(f"{shared_target.url}/admin/faults", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    listing = httpx.get(f"{shared_target.url}/admin/faults").json()
    assert listing["store"] is None and listing["disk"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/sessions/nope/messages", {"command": "echo x"}, 404, "session_id"),
        ("GET", "/sessions/nope/messages", None, 404, "session_id"),
        ("GET", "/sessions/nope/messages/m1", None, 404, "session_id"),
        ("POST", "/sessions/nope/messages/m1/interrupt", None, 404, "session_id"),
        ("POST", "/repos/r/sync", {"changes": [{}] * 1001}, 400, "changes"),
        ("POST", "/repos/r/sync", {"changes": "all"}, 400, "changes"),
    ],
)
def test_bad_session_and_sync_requests_are_json_4xx(
    shared_target, method, path, body, status, field
):
    response = httpx.request(method, f"{shared_target.url}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_oversized_sync_body_is_413_naming_the_body(shared_target):
    big = {"changes": [{"title": "x" * 1000}] * 1100}
    response = httpx.post(f"{shared_target.url}/repos/r/sync", json=big)
    assert response.status_code == 413 and response.json()["field"] == "body"


def test_no_traceback_in_the_gateway_log(shared_target):
    # Runs after the bad requests above in this module (same session target).
    log = (shared_target.data_dir / "logs" / "gateway.log").read_text(errors="replace")
    assert "Traceback" not in log
    assert httpx.get(f"{shared_target.url}/health").status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ls",
        "ECHO hi",
        "sleep",
        "bytes",
        "bytes -5",
        "bytes 1.5",
        "cpu",
        "get",
        "get X=1",
        "set 1X=2",
        "failx boom",
    ],
)
def test_parse_rejects_malformed_commands(text):
    with pytest.raises(commands.CommandError) as info:
        commands.parse(text)
    assert "\n" not in str(info.value)


def test_parse_builds_typed_commands():
    assert commands.parse("echo  two  spaces ") == commands.Echo(" two  spaces ")
    assert commands.parse("echo") == commands.Echo("")
    assert commands.parse("echo\nmulti\nline") == commands.Echo("multi\nline")
    assert commands.parse("sleep 0.5") == commands.Sleep(0.5)
    assert commands.parse("bytes 10") == commands.Bytes(10)
    assert commands.parse("set A_1=x = y") == commands.SetVar("A_1", "x = y")
    assert commands.parse("get A_1") == commands.GetVar("A_1")
    assert commands.parse("fail oh no") == commands.Fail("oh no")
    assert commands.parse("cpu 20") == commands.Cpu(20)
