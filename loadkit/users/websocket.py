"""A WebSocket client whose every operation is a Locust request event.

Built on ``websocket-client``. Locust monkey-patches sockets with gevent, so a
blocking :meth:`WebSocketClient.receive` only parks the calling greenlet: one
process holds thousands of connections without a thread per connection.

Every operation fires a request event with ``request_type="WS"``:

=====================  ==================================================
name                   fired when
=====================  ==================================================
``connect``            a connection attempt ends (failure = exception)
``send <op>``          a JSON message is sent (``op`` field, or ``text``)
``recv <type>``        a JSON message arrives (``type`` field); optional
``<op>`` round trip    :meth:`request` got its answer (time = round trip)
``reconnect``          :meth:`reconnect` succeeded (time = drop to ready)
``closed``             the peer dropped the connection (failure)
=====================  ==================================================

Names can be prefixed (``name_prefix``) to tell several clients apart.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import websocket

from loadkit.users.events import RequestEventHook, fire

__all__ = [
    "Backoff",
    "RequestEventHook",
    "WebSocketClient",
    "WebSocketClosed",
    "WebSocketTimeout",
    "ws_url",
]

JsonObject = dict[str, Any]


class WebSocketClosed(ConnectionError):
    """The connection is closed (by the peer, the network or :meth:`close`)."""


class WebSocketTimeout(TimeoutError):
    """No answer within the deadline."""


class Backoff:
    """Exponential backoff with full jitter, bounded in attempts and delay."""

    def __init__(
        self,
        base_s: float = 0.1,
        max_s: float = 5.0,
        max_attempts: int = 20,
        rng: random.Random | None = None,
    ) -> None:
        if base_s <= 0 or max_s < base_s or max_attempts < 1:
            raise ValueError("Backoff needs 0 < base_s <= max_s and max_attempts >= 1")
        self.base_s = base_s
        self.max_s = max_s
        self.max_attempts = max_attempts
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 = first: no wait)."""
        if attempt <= 0:
            return 0.0
        ceiling = min(self.max_s, self.base_s * (2 ** (attempt - 1)))
        return self._rng.uniform(ceiling / 2, ceiling)


class WebSocketClient:
    """One WebSocket connection that reports to Locust.

    ``events`` is ``environment.events.request`` (or anything with the same
    ``fire``). ``fire_receive_events`` can be turned off when the caller fires
    its own, more meaningful event per message (e.g. a notification latency).
    """

    def __init__(
        self,
        url: str,
        events: RequestEventHook,
        *,
        timeout_s: float = 10.0,
        name_prefix: str = "",
        fire_receive_events: bool = True,
        header: Mapping[str, str] | None = None,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"WebSocket URL must start with ws:// or wss://, got {url!r}")
        self.url = url
        self.timeout_s = timeout_s
        self.name_prefix = name_prefix
        self.fire_receive_events = fire_receive_events
        self.reconnects = 0
        self.last_reconnect_s: float | None = None
        self._events = events
        self._header = [f"{k}: {v}" for k, v in (header or {}).items()]
        self._ws: websocket.WebSocket | None = None

    # -- state ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None and bool(self._ws.connected)

    def _fire(
        self,
        name: str,
        started: float,
        length: int = 0,
        exception: BaseException | None = None,
        response_time_ms: float | None = None,
    ) -> None:
        fire(
            self._events,
            "WS",
            f"{self.name_prefix}{name}",
            started,
            exception=exception,
            length=length,
            response_time_ms=response_time_ms,
        )

    # -- connect / close -------------------------------------------------------

    def connect(self) -> None:
        """Open the connection; fires ``connect``; raises :class:`WebSocketClosed` on failure."""
        self.close()
        started = time.perf_counter()
        try:
            # UTF-8 is checked by decoding anyway; the pure-Python validator costs ~1 ms a frame
            ws = websocket.WebSocket(skip_utf8_validation=True)
            ws.connect(self.url, timeout=self.timeout_s, header=self._header)
        except (OSError, websocket.WebSocketException) as exc:
            error = WebSocketClosed(f"connect {self.url}: {type(exc).__name__}: {exc}")
            self._fire("connect", started, exception=error)
            raise error from exc
        self._ws = ws
        self._fire("connect", started)

    def close(self) -> None:
        """Close the connection if open (no event: closing is the caller's choice)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close(timeout=1.0)
            except (OSError, websocket.WebSocketException):
                ws.shutdown()

    def reconnect(
        self,
        backoff: Backoff | None = None,
        *,
        dropped_at: float | None = None,
        after_connect: Callable[[WebSocketClient], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> float:
        """Reconnect with backoff; returns the seconds from the drop to ready.

        ``after_connect`` runs after each successful connect (e.g. to
        re-subscribe); if it raises, the attempt counts as failed. Each failed
        attempt fires a failed ``connect``; success fires ``reconnect`` with the
        time from ``dropped_at`` (``time.perf_counter()`` of the drop, default
        now). Raises :class:`WebSocketClosed` when all attempts fail.
        """
        backoff = backoff or Backoff()
        start = time.perf_counter() if dropped_at is None else dropped_at
        last_error: BaseException | None = None
        for attempt in range(backoff.max_attempts):
            sleep(backoff.delay(attempt))
            try:
                self.connect()
                if after_connect is not None:
                    after_connect(self)
            except (WebSocketClosed, WebSocketTimeout) as exc:
                last_error = exc
                self.close()
                continue
            elapsed = time.perf_counter() - start
            self.reconnects += 1
            self.last_reconnect_s = elapsed
            self._fire("reconnect", start, response_time_ms=elapsed * 1000.0)
            return elapsed
        error = WebSocketClosed(
            f"gave up reconnecting to {self.url} after {backoff.max_attempts} attempts:"
            f" {last_error}"
        )
        self._fire("reconnect", start, exception=error)
        raise error

    # -- messages ------------------------------------------------------------------

    def _require(self) -> websocket.WebSocket:
        if self._ws is None or not self._ws.connected:
            raise WebSocketClosed(f"not connected to {self.url}")
        return self._ws

    def send_json(self, message: Mapping[str, Any]) -> None:
        """Send one JSON message; fires ``send <op>``."""
        name = f"send {message.get('op', 'text')}"
        started = time.perf_counter()
        payload = json.dumps(message, separators=(",", ":"))
        try:
            self._require().send(payload)
        except (OSError, websocket.WebSocketException, WebSocketClosed) as exc:
            error = WebSocketClosed(f"{name}: {type(exc).__name__}: {exc}")
            self._fire(name, started, exception=error)
            self._mark_dropped()
            raise error from exc
        self._fire(name, started, length=len(payload))

    def receive_json(self, timeout_s: float | None = None) -> JsonObject:
        """Wait for the next JSON object; fires ``recv <type>`` if enabled.

        Raises :class:`WebSocketTimeout` when nothing arrives within
        ``timeout_s`` (default: the client's timeout; the connection stays
        usable) and :class:`WebSocketClosed` when the connection drops (a
        failed ``closed`` event is fired).
        """
        ws = self._require()
        ws.settimeout(self.timeout_s if timeout_s is None else timeout_s)
        started = time.perf_counter()
        try:
            raw = ws.recv()
        except websocket.WebSocketTimeoutException as exc:
            raise WebSocketTimeout(f"no message from {self.url} within {timeout_s}s") from exc
        except TimeoutError as exc:  # gevent raises socket.timeout (= TimeoutError)
            raise WebSocketTimeout(f"no message from {self.url} within {timeout_s}s") from exc
        except UnicodeDecodeError as exc:
            error_text = ValueError(f"message from {self.url} is not UTF-8: {exc}")
            self._fire("recv invalid", started, exception=error_text)
            raise error_text from exc
        except (OSError, websocket.WebSocketException) as exc:
            error = WebSocketClosed(f"connection to {self.url} dropped: {type(exc).__name__}")
            self._fire("closed", started, exception=error)
            self._mark_dropped()
            raise error from exc
        if raw in ("", b"") and not ws.connected:
            error = WebSocketClosed(f"connection to {self.url} closed by peer")
            self._fire("closed", started, exception=error)
            self._mark_dropped()
            raise error
        try:
            message = json.loads(raw)
        except ValueError as exc:
            error_json = ValueError(f"non-JSON message from {self.url}: {str(raw)[:80]!r}")
            self._fire("recv invalid", started, exception=error_json)
            raise error_json from exc
        if not isinstance(message, dict):
            message = {"type": "non-object", "value": message}
        if self.fire_receive_events:
            self._fire(f"recv {message.get('type', 'untyped')}", started, length=len(raw))
        return message

    def request(
        self,
        message: Mapping[str, Any],
        expect_type: str,
        timeout_s: float | None = None,
        on_other: Callable[[JsonObject], None] | None = None,
    ) -> JsonObject:
        """Send ``message`` and wait for a reply of ``expect_type``.

        Fires ``<op>`` with the round-trip time (failure on timeout). Messages of
        other types that arrive meanwhile go to ``on_other`` (or are dropped).
        Only use it while no other greenlet is receiving on this client.
        """
        op = str(message.get("op", "request"))
        deadline_s = self.timeout_s if timeout_s is None else timeout_s
        started = time.perf_counter()
        self.send_json(message)
        while True:
            left = deadline_s - (time.perf_counter() - started)
            try:
                if left <= 0:
                    raise WebSocketTimeout("deadline passed")
                reply = self.receive_json(timeout_s=left)
            except WebSocketTimeout as exc:
                error = WebSocketTimeout(f"no {expect_type!r} reply to {op!r} within {deadline_s}s")
                self._fire(op, started, exception=error)
                raise error from exc
            if reply.get("type") == expect_type:
                self._fire(op, started)
                return reply
            if on_other is not None:
                on_other(reply)

    def _mark_dropped(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                ws.shutdown()


def ws_url(host: str, path: str = "/ws") -> str:
    """``http://h:p`` → ``ws://h:p/ws`` (``https`` → ``wss``); ValueError otherwise."""
    base = host.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + path
    raise ValueError(f"--host {host!r} is not an http(s) URL")
