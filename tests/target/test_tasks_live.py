"""Tasks sync on the real target process: concurrent optimistic writers over real HTTP,
and malformed requests that must come back 4xx JSON, never 500."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

WRITERS = 6
ATTEMPTS = 15


@pytest.fixture
def target(shared_target):
    """The session's shared target (conftest); these tests use their own repos."""
    return shared_target


def test_concurrent_writers_one_version_wins_each_time(target):
    repo = f"occ-{uuid.uuid4().hex[:8]}"
    task = httpx.post(f"{target.url}/repos/{repo}/tasks", json={"title": "t"}).json()
    url = f"/repos/{repo}/tasks/{task['task_id']}"

    def writer(n: int) -> tuple[int, int]:
        wins = conflicts = 0
        with httpx.Client(base_url=target.url, timeout=30) as http:
            version = http.get(url).json()["version"]
            for i in range(ATTEMPTS):
                r = http.put(url, json={"title": f"{n}-{i}", "base_version": version})
                if r.status_code == 200:
                    wins += 1
                    version = r.json()["version"]
                else:
                    assert r.status_code == 409, r.text
                    conflicts += 1
                    version = r.json()["task"]["version"]  # rebase on the server's copy
        return wins, conflicts

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(writer, range(WRITERS)))
    wins = sum(w for w, _ in results)
    final = httpx.get(f"{target.url}{url}").json()
    assert final["version"] == 1 + wins  # no lost update, no double version
    assert wins + sum(c for _, c in results) == WRITERS * ATTEMPTS
    assert httpx.get(f"{target.url}/repos/{repo}/tasks").json()["seq"] == 1 + wins


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/sessions", b"{"),
        ("POST", "/sessions", b'{"client_id": null, "user_id": "u", "project": "p"}'),
        ("POST", "/sessions/none/activity", b""),
        ("GET", "/sessions/none", None),
        ("POST", "/repos/r/tasks", b'{"title": {"nested": 1}}'),
        ("POST", "/repos/r/tasks", b"\x00\x01"),
        ("PUT", "/repos/r/tasks/none", b'{"title": "x"}'),
        ("PUT", "/repos/r/tasks/none", b'{"base_version": "abc"}'),
        ("POST", "/repos/r/sync", b'{"changes": [null]}'),
        ("POST", "/repos/r/sync", b'{"changes": [{"task_id": 5}]}'),
        ("POST", "/repos/.hidden/sync", b'{"changes": []}'),
        ("POST", "/admin/faults", b'{"latency_ms": "1s"}'),
        ("POST", "/admin/faults", b'{"path": null, "status": 503}'),
    ],
)
def test_bad_requests_are_4xx_json(target, method, path, content):
    response = httpx.request(
        method,
        f"{target.url}{path}",
        content=content,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) >= {"error", "field"}
