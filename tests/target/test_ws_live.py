"""WS /ws against the real target process: fan-out to many real WebSocket clients
(websocket-client) with concurrent writers, and a real slow consumer dropped."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websocket

SUBSCRIBERS = 200
WRITERS = 4
WRITES_PER_WRITER = 20


@pytest.fixture
def target(shared_target):
    """The session's shared target (conftest); these tests use their own repos."""
    return shared_target


def ws_url(target) -> str:
    return target.url.replace("http://", "ws://", 1) + "/ws"


def connect(target, repos, **options):
    ws = websocket.create_connection(ws_url(target), timeout=30, **options)
    ws.send(json.dumps({"op": "subscribe", "repos": repos}))
    assert json.loads(ws.recv())["type"] == "subscribed"
    return ws


def test_every_write_reaches_every_subscriber_in_order(target):
    repo_a, repo_b = f"fan-a-{uuid.uuid4().hex[:8]}", f"fan-b-{uuid.uuid4().hex[:8]}"
    clients = []
    try:
        for i in range(SUBSCRIBERS):
            clients.append(connect(target, [repo_a, repo_b] if i % 2 else [repo_a]))

        def writer(n: int) -> list[str]:
            tags = []
            with httpx.Client(base_url=target.url, timeout=30) as http:
                task = None
                for i in range(WRITES_PER_WRITER):
                    tag = f"w{n}-{i}"
                    repo = repo_a if i % 3 else repo_b
                    if task is None or task["repo"] != repo:
                        r = http.post(f"/repos/{repo}/tasks", json={"title": tag, "meta": tag})
                    else:
                        url = f"/repos/{repo}/tasks/{task['task_id']}"
                        r = http.put(url, json={"title": tag, "meta": tag})
                    assert r.status_code in (200, 201), r.text
                    task = r.json()
                    tags.append(tag)
            return tags

        with ThreadPoolExecutor(WRITERS) as pool:
            written = [t for tags in pool.map(writer, range(WRITERS)) for t in tags]
        sync = httpx.post(
            f"{target.url}/repos/{repo_a}/sync",
            json={
                "client_id": "batch",
                "changes": [{"title": f"s{i}", "meta": f"s{i}"} for i in range(30)],
            },
            timeout=30,
        )
        assert sync.status_code == 200
        written += [f"s{i}" for i in range(30)]
        seq = {
            repo: httpx.get(f"{target.url}/repos/{repo}/tasks", timeout=30).json()["seq"]
            for repo in (repo_a, repo_b)
        }
        assert seq[repo_a] + seq[repo_b] == len(written)

        for i, ws in enumerate(clients):
            repos = (repo_a, repo_b) if i % 2 else (repo_a,)
            expected = sum(seq[r] for r in repos)
            events = [json.loads(ws.recv()) for _ in range(expected)]
            for repo in repos:
                seqs = [e["seq"] for e in events if e["repo"] == repo]
                assert seqs == list(range(1, seq[repo] + 1)), f"client {i} {repo}: gap or reorder"
            tags = sorted(e["task"]["meta"] for e in events)
            wanted = sorted(t for t in written if i % 2 or t.startswith("s") or not _in_b(t))
            assert tags == wanted
    finally:
        for ws in clients:
            ws.close()


def _in_b(tag: str) -> bool:
    """Writer tags 'w{n}-{i}' with i % 3 == 0 went to repo b."""
    return int(tag.split("-")[1]) % 3 == 0


def test_slow_consumer_is_disconnected_and_a_fast_one_keeps_up(target):
    repo = f"slow-{uuid.uuid4().hex[:8]}"
    before = httpx.get(f"{target.url}/admin/ws").json()["dropped_clients"]
    small_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
    slow = connect(target, [repo], sockopt=small_buffer)  # never reads until the end
    fast = connect(target, [repo])
    received: list[dict] = []
    stop = threading.Event()

    def read_fast():
        fast.settimeout(1.0)
        while not stop.is_set():
            try:
                received.append(json.loads(fast.recv()))
            except websocket.WebSocketTimeoutException:
                continue

    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    payload = "x" * 4000
    batches = 0
    try:
        with httpx.Client(base_url=target.url, timeout=60) as http:
            deadline = time.monotonic() + 120
            while http.get("/admin/ws").json()["dropped_clients"] == before:
                assert batches < 100 and time.monotonic() < deadline, "slow client never dropped"
                changes = [{"title": "t", "meta": payload} for _ in range(200)]
                r = http.post(f"/repos/{repo}/sync", json={"client_id": "w", "changes": changes})
                assert r.status_code == 200
                batches += 1
            total = http.get(f"/repos/{repo}/tasks").json()["seq"]
        end = time.monotonic() + 60
        while len(received) < total and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(10)
        fast.close()
    assert [e["seq"] for e in received] == list(range(1, total + 1))

    # The slow client got a prefix of the events, then the connection ended.
    seqs = []
    slow.settimeout(30)
    try:
        while True:
            opcode, data = slow.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            seqs.append(json.loads(data)["seq"])
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        pass
    finally:
        slow.close()
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) < total
