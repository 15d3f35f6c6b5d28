"""WebSocket fan-out of task events: ``WS /ws`` and the hub that feeds it.

Each connection has one bounded queue. :meth:`Hub.publish` encodes an event
once and puts the same string on every subscriber's queue without waiting; a
client whose queue is full (it reads slower than the repo is written) is
disconnected with close code 1008 rather than buffered without bound. The
connection's writer appends ``sent_at`` when it actually sends the event.

Protocol (text frames of JSON): ``{"op": "subscribe", "repos": [...]}`` →
``{"type": "subscribed", "repos": [...]}``; ``{"op": "unsubscribe", "repos":
[...]}`` → ``{"type": "unsubscribed", ...}``; ``{"op": "ping"}`` →
``{"type": "pong"}``; a bad message → ``{"type": "error", "error", "field"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from loadkit.target.httpjson import NAME_PATTERN

__all__ = ["CLOSE_SLOW_CONSUMER", "Hub", "Subscriber"]

log = logging.getLogger(__name__)

CLOSE_SLOW_CONSUMER = 1008
CLOSE_TIMEOUT_S = 1.0
QUEUE_LIMIT = 1000  # events buffered per client before it is dropped as too slow
MAX_REPOS = 1000  # repos one client may subscribe to


class Subscriber:
    """One WebSocket connection's bounded outbox and its subscribed repos."""

    def __init__(self, queue_limit: int) -> None:
        # Items: (text, stamp) - stamp=True appends `, "sent_at": <now>}` at send time.
        self.outbox: asyncio.Queue[tuple[str, bool]] = asyncio.Queue(maxsize=queue_limit)
        self.repos: set[str] = set()
        self.dropped = asyncio.Event()

    def offer(self, text: str, stamp: bool) -> bool:
        """Queue a message; False (and marked dropped) when the outbox is full."""
        if self.dropped.is_set():
            return False
        try:
            self.outbox.put_nowait((text, stamp))
        except asyncio.QueueFull:
            self.dropped.set()
            return False
        return True


class Hub:
    """Repo → subscribers; publishing never waits on a client."""

    def __init__(self, queue_limit: int = QUEUE_LIMIT, max_repos: int = MAX_REPOS) -> None:
        self.queue_limit = queue_limit
        self.max_repos = max_repos
        self._by_repo: dict[str, set[Subscriber]] = {}
        self.connections = 0
        self.published = 0
        self.dropped_clients = 0

    def subscribe(self, subscriber: Subscriber, repos: list[str]) -> None:
        for repo in repos:
            subscriber.repos.add(repo)
            self._by_repo.setdefault(repo, set()).add(subscriber)

    def unsubscribe(self, subscriber: Subscriber, repos: list[str] | None = None) -> None:
        for repo in list(subscriber.repos if repos is None else repos):
            subscriber.repos.discard(repo)
            members = self._by_repo.get(repo)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self._by_repo[repo]

    def subscribers(self, repo: str) -> int:
        return len(self._by_repo.get(repo, ()))

    def publish(self, event: dict[str, Any]) -> int:
        """Send ``event`` (must have "repo") to the repo's subscribers; returns how many got it."""
        members = self._by_repo.get(event["repo"])
        self.published += 1
        if not members:
            return 0
        encoded = json.dumps(event, separators=(",", ":"))
        prefix = encoded[:-1]  # without the closing brace: the writer adds sent_at
        delivered = 0
        for subscriber in list(members):
            if subscriber.offer(prefix, True):
                delivered += 1
            else:
                self.dropped_clients += 1
                self.unsubscribe(subscriber)
        return delivered

    def stats(self) -> dict[str, int]:
        return {
            "connections": self.connections,
            "repos": len(self._by_repo),
            "published": self.published,
            "dropped_clients": self.dropped_clients,
        }

    async def serve(self, websocket: WebSocket) -> None:
        """Run one client connection until it closes or is dropped as too slow."""
        await websocket.accept()
        subscriber = Subscriber(self.queue_limit)
        self.connections += 1
        writer = asyncio.create_task(_write_loop(websocket, subscriber))
        reader = asyncio.create_task(self._read_loop(websocket, subscriber))
        dropped = asyncio.create_task(subscriber.dropped.wait())
        try:
            await asyncio.wait({writer, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # No await here: the server may be cancelling this task (shutdown), and the
            # helpers end at their next step (both loops swallow their own errors).
            self.unsubscribe(subscriber)
            self.connections -= 1
            for task in (writer, reader, dropped):
                task.cancel()
        if subscriber.dropped.is_set():
            log.warning("dropped a slow WebSocket client: %d events queued", self.queue_limit)
            await asyncio.sleep(0)  # let the cancelled writer leave its send first
            # Best effort: a client that does not read may never take the close frame.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(CLOSE_SLOW_CONSUMER, "slow consumer: outbox full"),
                    CLOSE_TIMEOUT_S,
                )

    async def _read_loop(self, websocket: WebSocket, subscriber: Subscriber) -> None:
        while True:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            reply = self.handle_message(subscriber, text)
            if not subscriber.offer(json.dumps(reply, separators=(",", ":")), False):
                return

    def handle_message(self, subscriber: Subscriber, text: str) -> dict[str, Any]:
        """Apply one client message; returns the reply."""
        try:
            message = json.loads(text)
        except ValueError:
            return _error("message is not valid JSON", None)
        if not isinstance(message, dict):
            return _error("message must be a JSON object with 'op'", "op")
        op = message.get("op")
        if op == "ping":
            return {"type": "pong", "server_time": time.time()}
        if op in ("subscribe", "unsubscribe"):
            repos = message.get("repos")
            if not isinstance(repos, list) or not all(isinstance(r, str) for r in repos):
                return _error("'repos' must be a list of repo names", "repos")
            bad = next((r for r in repos if not NAME_PATTERN.fullmatch(r)), None)
            if bad is not None:
                return _error(f"bad repo name {bad!r:.80}", "repos")
            if op == "unsubscribe":
                self.unsubscribe(subscriber, repos)
                return {"type": "unsubscribed", "repos": repos}
            if len(subscriber.repos | set(repos)) > self.max_repos:
                return _error(f"at most {self.max_repos} repos per connection", "repos")
            self.subscribe(subscriber, repos)
            return {"type": "subscribed", "repos": sorted(subscriber.repos)}
        return _error(f"unknown op {op!r:.40}; use subscribe, unsubscribe or ping", "op")

    def route(self, path: str = "/ws") -> BaseRoute:
        return WebSocketRoute(path, self.serve)


def _error(message: str, field: str | None) -> dict[str, Any]:
    return {"type": "error", "error": message, "field": field}


async def _write_loop(websocket: WebSocket, subscriber: Subscriber) -> None:
    while True:
        text, stamp = await subscriber.outbox.get()
        if stamp:
            text = f'{text},"sent_at":{time.time()!r}}}'
        try:
            await websocket.send_text(text)
        except Exception:  # the client went away mid-send
            return
