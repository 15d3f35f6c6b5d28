"""WS /ws protocol and the hub's bounded fan-out.

Protocol tests use Starlette's in-process TestClient on the real routes; the
hub tests drive :class:`Hub` directly on an asyncio loop with a stand-in
WebSocket object (nothing else can stall a consumer deterministically; the
live test in test_ws_live.py does it over a real socket).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from loadkit.target import tasks
from loadkit.target.config import TargetConfig
from loadkit.target.wshub import CLOSE_SLOW_CONSUMER, Hub, Subscriber


@pytest.fixture
def client(tmp_path):
    with TestClient(Starlette(routes=tasks.routes(TargetConfig(data_dir=tmp_path)))) as c:
        yield c


def test_subscribe_receive_events_in_order_with_meta(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"op": "subscribe", "repos": ["r1"]})
        assert ws.receive_json() == {"type": "subscribed", "repos": ["r1"]}
        created = client.post("/repos/r1/tasks", json={"title": "a", "meta": {"t0": 1.25}}).json()
        client.post("/repos/other/tasks", json={"title": "not subscribed"})
        client.put(f"/repos/r1/tasks/{created['task_id']}", json={"meta": {"t0": 2.5}})
        first, second = ws.receive_json(), ws.receive_json()
    assert first["type"] == "task.created"
    assert second["type"] == "task.updated"
    assert [first["seq"], second["seq"]] == [1, 2]
    assert first["repo"] == second["repo"] == "r1"
    assert first["task"]["meta"] == {"t0": 1.25}
    assert second["task"]["meta"] == {"t0": 2.5}
    assert second["task"]["version"] == 2
    assert first["sent_at"] >= first["published_at"]


def test_ping_unsubscribe_and_errors(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"op": "ping"})
        assert ws.receive_json()["type"] == "pong"
        for message, field in [
            ("not json", None),
            ("[1]", "op"),
            ('{"op": "dance"}', "op"),
            ('{"op": "subscribe", "repos": "r1"}', "repos"),
            ('{"op": "subscribe", "repos": [1]}', "repos"),
            ('{"op": "subscribe", "repos": ["../x"]}', "repos"),
        ]:
            ws.send_text(message)
            reply = ws.receive_json()
            assert reply["type"] == "error", message
            assert reply["field"] == field
        ws.send_json({"op": "subscribe", "repos": ["a", "b"]})
        assert ws.receive_json() == {"type": "subscribed", "repos": ["a", "b"]}
        ws.send_json({"op": "unsubscribe", "repos": ["a"]})
        assert ws.receive_json() == {"type": "unsubscribed", "repos": ["a"]}
        client.post("/repos/a/tasks", json={"title": "unseen"})
        client.post("/repos/b/tasks", json={"title": "seen"})
        event = ws.receive_json()
        assert (event["repo"], event["task"]["title"]) == ("b", "seen")
        stats = client.get("/admin/ws").json()
        assert stats["connections"] == 1
        assert stats["published"] == 2


def test_subscription_limit(tmp_path):
    hub = Hub(queue_limit=10, max_repos=2)
    subscriber = Subscriber(10)
    assert hub.handle_message(subscriber, '{"op": "subscribe", "repos": ["a", "b"]}')["type"] == (
        "subscribed"
    )
    reply = hub.handle_message(subscriber, '{"op": "subscribe", "repos": ["c"]}')
    assert reply["type"] == "error"
    assert reply["field"] == "repos"
    assert subscriber.repos == {"a", "b"}


class StalledSocket:
    """Stands in for a WebSocket whose client stopped reading: send never returns."""

    def __init__(self, stall: bool) -> None:
        self.stall = stall
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self.incoming: asyncio.Queue = asyncio.Queue()

    async def accept(self) -> None:
        pass

    async def receive(self):
        return await self.incoming.get()

    async def send_text(self, text: str) -> None:
        if self.stall:
            await asyncio.Event().wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code


def test_slow_consumer_is_dropped_and_others_get_everything():
    async def scenario():
        hub = Hub(queue_limit=50)
        slow, fast = StalledSocket(stall=True), StalledSocket(stall=False)
        serving = [asyncio.create_task(hub.serve(ws)) for ws in (slow, fast)]
        for ws in (slow, fast):
            await ws.incoming.put(
                {"type": "websocket.receive", "text": '{"op": "subscribe", "repos": ["r"]}'}
            )
        while hub.subscribers("r") < 2:
            await asyncio.sleep(0.001)
        for seq in range(1, 501):
            hub.publish({"type": "task.created", "repo": "r", "seq": seq, "task": {}})
            await asyncio.sleep(0)  # let the fast writer run, as the event loop would
        await asyncio.wait_for(serving[0], 10)  # the slow one's connection ended by itself
        assert slow.closed_with == CLOSE_SLOW_CONSUMER
        assert hub.dropped_clients == 1
        assert hub.subscribers("r") == 1
        while len(fast.sent) < 501:
            await asyncio.sleep(0.001)
        await fast.incoming.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(serving[1], 10)
        assert hub.connections == 0
        return fast.sent

    sent = asyncio.run(scenario())
    assert json.loads(sent[0])["type"] == "subscribed"
    events = [json.loads(text) for text in sent[1:]]
    assert [e["seq"] for e in events] == list(range(1, 501))
    assert all(isinstance(e["sent_at"], float) for e in events)
