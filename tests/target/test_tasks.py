"""Tasks sync over HTTP: versions, 409 on stale base_version, batch sync, bad input.

Starlette's in-process TestClient on the real routes and a real SQLite file.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from loadkit.target import tasks
from loadkit.target.config import TargetConfig


@pytest.fixture
def client(tmp_path):
    with TestClient(Starlette(routes=tasks.routes(TargetConfig(data_dir=tmp_path)))) as c:
        yield c


def create(client, repo="r1", **body):
    response = client.post(f"/repos/{repo}/tasks", json={"title": "t", **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_update_versions_and_list(client):
    task = create(client, title="write docs", client_id="c1", meta={"sent": 1.5})
    assert task["version"] == 1
    assert task["status"] == "open"
    assert task["repo"] == "r1"
    assert task["updated_by"] == "c1"
    assert task["meta"] == {"sent": 1.5}
    assert {"task_id", "updated_at"} <= set(task)

    url = f"/repos/r1/tasks/{task['task_id']}"
    updated = client.put(url, json={"status": "done", "base_version": 1, "client_id": "c2"})
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.json()["status"] == "done"
    assert updated.json()["title"] == "write docs"  # absent fields are kept
    assert updated.json()["meta"] == {"sent": 1.5}
    assert updated.json()["updated_by"] == "c2"

    blind = client.put(url, json={"title": "no base_version: last write wins"})
    assert blind.json()["version"] == 3

    other = create(client, repo="r2")
    listed = client.get("/repos/r1/tasks").json()
    assert [t["task_id"] for t in listed["tasks"]] == [task["task_id"]]
    assert listed["tasks"][0]["version"] == 3
    assert listed["seq"] == 3  # create + two updates
    assert client.get("/repos/r2/tasks").json()["tasks"] == [other]
    assert client.get("/repos/empty/tasks").json() == {"tasks": [], "seq": 0}
    assert client.get(url).json()["title"] == "no base_version: last write wins"


def test_stale_base_version_is_409_with_the_server_task(client):
    task = create(client)
    url = f"/repos/r1/tasks/{task['task_id']}"
    assert client.put(url, json={"title": "first", "base_version": 1}).status_code == 200
    stale = client.put(url, json={"title": "second", "base_version": 1})
    assert stale.status_code == 409
    body = stale.json()
    assert body["field"] == "base_version"
    assert body["task"]["version"] == 2
    assert body["task"]["title"] == "first"
    assert client.get(url).json()["title"] == "first"  # the stale write changed nothing


def test_unknown_task_is_404(client):
    response = client.put("/repos/r1/tasks/nope", json={"title": "x"})
    assert response.status_code == 404
    assert response.json()["field"] == "task_id"
    assert client.get("/repos/r1/tasks/nope").status_code == 404


def test_batch_sync_applies_and_reports_server_wins(client):
    a = create(client, title="a")
    b = create(client, title="b")
    client.put(f"/repos/r1/tasks/{b['task_id']}", json={"title": "b by someone else"})
    response = client.post(
        "/repos/r1/sync",
        json={
            "client_id": "offline",
            "changes": [
                {"task_id": a["task_id"], "base_version": 1, "status": "done"},
                {"task_id": b["task_id"], "base_version": 1, "title": "b offline"},
                {"title": "created offline", "meta": {"k": 1}},
                {"task_id": "client-made-id", "title": "with my own id"},
            ],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert [t["task_id"] for t in body["applied"]][:1] == [a["task_id"]]
    assert body["applied"][0]["version"] == 2
    assert body["applied"][0]["updated_by"] == "offline"
    assert body["applied"][1]["title"] == "created offline"
    assert body["applied"][1]["meta"] == {"k": 1}
    assert body["applied"][2]["task_id"] == "client-made-id"
    assert body["conflicts"] == [
        {
            "task_id": b["task_id"],
            "resolution": "server_wins",
            "server": body["conflicts"][0]["server"],
        }
    ]
    assert body["conflicts"][0]["server"]["title"] == "b by someone else"
    assert body["conflicts"][0]["server"]["version"] == 2
    assert len(body["tasks"]) == 4
    by_id = {t["task_id"]: t for t in body["tasks"]}
    assert by_id[b["task_id"]]["title"] == "b by someone else"  # server won
    assert body["seq"] == 6  # 2 creates + 1 update + 3 applied


def test_sync_is_all_or_nothing_on_bad_input(client):
    task = create(client)
    for changes, field in [
        ([{"task_id": task["task_id"], "title": "ok"}, {"status": "no title"}], "changes[1].title"),
        ([{"task_id": task["task_id"], "base_version": "1"}], "changes[0].base_version"),
        ([{"task_id": task["task_id"], "base_version": -1}], "changes[0].base_version"),
        ([{"task_id": "../etc", "title": "x"}], "changes[0].task_id"),
        ([{"task_id": task["task_id"], "title": 5}], "changes[0].title"),
        (["not an object"], "changes[0]"),
        ([{"title": "new"}, {"task_id": "missing", "status": "done"}], "changes"),
    ]:
        response = client.post("/repos/r1/sync", json={"client_id": "c", "changes": changes})
        assert response.status_code == 400, (changes, response.text)
        assert response.json()["field"] == field
    assert client.get("/repos/r1/tasks").json()["seq"] == 1  # nothing applied


def test_sync_needs_a_list_of_bounded_size(client):
    for body in ({}, {"changes": {"title": "x"}}, {"changes": [{"title": "x"}] * 1001}):
        response = client.post("/repos/r1/sync", json=body)
        assert response.status_code == 400
        assert response.json()["field"] == "changes"
    empty = client.post("/repos/r1/sync", json={"changes": []})
    assert empty.json() == {"applied": [], "conflicts": [], "tasks": [], "seq": 0}


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "field"),
    [
        ("POST", "/repos/r1/tasks", {}, 400, "title"),
        ("POST", "/repos/r1/tasks", {"title": 3}, 400, "title"),
        ("POST", "/repos/r1/tasks", {"title": "x" * 1001}, 400, "title"),
        ("POST", "/repos/r1/tasks", {"title": "x", "status": ""}, 400, "status"),
        ("POST", "/repos/r1/tasks", {"title": "x", "client_id": 5}, 400, "client_id"),
        ("POST", "/repos/.hidden/tasks", {"title": "x"}, 400, "repo"),
        ("POST", "/repos/" + "r" * 65 + "/tasks", {"title": "x"}, 400, "repo"),
        ("GET", "/repos/bad%20name/tasks", None, 400, "repo"),
        ("PUT", "/repos/r1/tasks/x", {"base_version": True}, 400, "base_version"),
        ("PUT", "/repos/r1/tasks/x", {"base_version": 1.5}, 400, "base_version"),
    ],
)
def test_bad_input_is_4xx_json_naming_the_field(client, method, url, body, status, field):
    response = client.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_bad_bodies(client):
    for content in (b"", b"nope", b"[]", b'"str"'):
        response = client.post(
            "/repos/r1/tasks", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert set(response.json()) == {"error", "field"}
    too_big = client.post("/repos/r1/tasks", json={"title": "x", "meta": "m" * 1_100_000})
    assert too_big.status_code == 413


def test_tasks_and_seq_survive_a_restart(tmp_path):
    config = TargetConfig(data_dir=tmp_path)
    with TestClient(Starlette(routes=tasks.routes(config))) as first:
        task = create(first)
    with TestClient(Starlette(routes=tasks.routes(config))) as second:
        updated = second.put(f"/repos/r1/tasks/{task['task_id']}", json={"base_version": 1})
        assert updated.json()["version"] == 2
        assert second.get("/repos/r1/tasks").json()["seq"] == 2


def test_lone_surrogates_are_400_and_escaped_pairs_are_kept(client):
    headers = {"content-type": "application/json"}
    for body in (b'{"title": "\\ud800"}', b'{"title": "x", "meta": {"k": "\\udfff"}}'):
        response = client.post("/repos/r1/tasks", content=body, headers=headers)
        assert response.status_code == 400, response.text
    ok = client.post("/repos/r1/tasks", content=b'{"title": "\\ud83d\\ude00"}', headers=headers)
    assert ok.status_code == 201
    assert ok.json()["title"] == "\U0001f600"
