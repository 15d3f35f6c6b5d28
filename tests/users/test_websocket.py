"""The WebSocket client against a real WebSocket server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import gevent
import locust  # noqa: F401  (gevent monkey-patching, as in a real Locust process)
import pytest

from loadkit.users.websocket import Backoff, WebSocketClient, WebSocketClosed, WebSocketTimeout

SERVER = Path(__file__).with_name("ws_server.py")


class Recorder:
    """Collects fired request events, like Locust's events.request would receive them."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def fire(self, *, reverse: bool = False, **kwargs) -> None:
        self.events.append(kwargs)

    def names(self, ok: bool | None = None) -> list[str]:
        return [e["name"] for e in self.events if ok is None or (e["exception"] is None) == ok]


def start_server(port: int = 0) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("port: "), line
    return proc, int(line.split()[1])


def stop_server(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=30)


@pytest.fixture
def server():
    proc, port = start_server()
    try:
        yield port
    finally:
        stop_server(proc)


def test_connect_request_send_receive_fire_ws_events(server) -> None:
    hook = Recorder()
    client = WebSocketClient(f"ws://127.0.0.1:{server}", hook)
    client.connect()
    reply = client.request({"op": "subscribe", "repos": ["a", "b"]}, expect_type="subscribed")
    assert reply["repos"] == ["a", "b"]
    client.send_json({"op": "hello", "x": "é ✓"})
    assert client.receive_json()["message"] == {"op": "hello", "x": "é ✓"}
    client.close()
    assert not client.connected
    assert all(e["request_type"] == "WS" for e in hook.events)
    assert hook.names(ok=False) == []
    for name in (
        "connect",
        "send subscribe",
        "recv subscribed",
        "subscribe",
        "send hello",
        "recv echo",
    ):
        assert name in hook.names(ok=True), (name, hook.names())
    sent = next(e for e in hook.events if e["name"] == "send hello")
    assert sent["response_length"] > 0


def test_receive_timeout_keeps_the_connection(server) -> None:
    hook = Recorder()
    client = WebSocketClient(f"ws://127.0.0.1:{server}", hook, fire_receive_events=False)
    client.connect()
    with pytest.raises(WebSocketTimeout):
        client.receive_json(timeout_s=0.2)
    assert client.connected
    assert client.request({"op": "ping"}, expect_type="pong")["type"] == "pong"
    assert not any(name.startswith("recv") for name in hook.names())
    client.close()


def test_request_times_out_as_a_failure_when_no_reply_of_that_type(server) -> None:
    hook = Recorder()
    client = WebSocketClient(f"ws://127.0.0.1:{server}", hook)
    client.connect()
    others: list[dict] = []
    with pytest.raises(WebSocketTimeout):
        client.request(
            {"op": "burst", "n": 3}, expect_type="never", timeout_s=0.5, on_other=others.append
        )
    assert [m["seq"] for m in others] == [0, 1, 2]
    assert "burst" in hook.names(ok=False)
    client.close()


def test_drop_is_detected_and_reconnect_resubscribes(server) -> None:
    hook = Recorder()
    client = WebSocketClient(f"ws://127.0.0.1:{server}", hook)
    client.connect()
    client.send_json({"op": "drop"})
    with pytest.raises(WebSocketClosed):
        client.receive_json(timeout_s=10)
    assert not client.connected
    assert "closed" in hook.names(ok=False)

    resubscribed: list[dict] = []
    elapsed = client.reconnect(
        Backoff(base_s=0.05, max_s=0.2, max_attempts=5),
        after_connect=lambda c: resubscribed.append(
            c.request({"op": "subscribe", "repos": ["r"]}, expect_type="subscribed")
        ),
    )
    assert elapsed >= 0 and client.reconnects == 1 and client.connected
    assert resubscribed and resubscribed[0]["repos"] == ["r"]
    assert "reconnect" in hook.names(ok=True)
    client.close()


def test_reconnect_with_backoff_survives_a_server_restart() -> None:
    proc, port = start_server()
    hook = Recorder()
    client = WebSocketClient(f"ws://127.0.0.1:{port}", hook, timeout_s=2.0)
    try:
        client.connect()
        stop_server(proc)
        with pytest.raises(WebSocketClosed):
            client.receive_json(timeout_s=10)
        restarted: list[subprocess.Popen] = []

        def sleep_and_restart(seconds: float) -> None:
            # the first retries hit a closed port; the server comes back on attempt 3
            if len(restarted) == 0 and hook.names(ok=False).count("connect") >= 2:
                restarted.append(start_server(port)[0])
            time.sleep(seconds)

        client.reconnect(Backoff(base_s=0.05, max_s=0.2, max_attempts=20), sleep=sleep_and_restart)
        assert client.connected and restarted
        assert hook.names(ok=False).count("connect") >= 2
        assert client.request({"op": "ping"}, expect_type="pong")
    finally:
        client.close()
        for p in [proc, *locals().get("restarted", [])]:
            stop_server(p)


def test_reconnect_gives_up_after_max_attempts() -> None:
    proc, port = start_server()
    stop_server(proc)
    hook = Recorder()
    client = WebSocketClient(f"ws://127.0.0.1:{port}", hook, timeout_s=2.0)
    with pytest.raises(WebSocketClosed, match="after 3 attempts"):
        client.reconnect(Backoff(base_s=0.01, max_s=0.02, max_attempts=3))
    assert hook.names(ok=False) == ["connect", "connect", "connect", "reconnect"]
    assert client.reconnects == 0


def test_bad_url_and_bad_backoff_are_rejected() -> None:
    with pytest.raises(ValueError, match="ws://"):
        WebSocketClient("http://127.0.0.1:1", Recorder())
    with pytest.raises(ValueError):
        Backoff(base_s=0)
    backoff = Backoff(base_s=0.1, max_s=1.0)
    assert backoff.delay(0) == 0
    assert all(0.05 <= backoff.delay(1) <= 0.1 for _ in range(50))
    assert all(0.5 <= backoff.delay(10) <= 1.0 for _ in range(50))


def test_many_clients_receive_concurrently_in_greenlets(server) -> None:
    """Cooperative under gevent: 50 connections, one greenlet each, all served."""
    from gevent import monkey

    assert monkey.is_module_patched("socket"), "Locust's gevent patching is expected here"
    hook = Recorder()
    received: dict[int, list[int]] = {}

    def one(index: int) -> None:
        client = WebSocketClient(f"ws://127.0.0.1:{server}", hook, fire_receive_events=False)
        client.connect()
        client.send_json({"op": "burst", "n": 20})
        received[index] = [client.receive_json(timeout_s=30)["seq"] for _ in range(20)]
        client.close()

    greenlets = [gevent.spawn(one, i) for i in range(50)]
    gevent.joinall(greenlets, timeout=120, raise_error=True)
    assert all(g.successful() for g in greenlets)
    assert received == {i: list(range(20)) for i in range(50)}
