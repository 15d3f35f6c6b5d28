"""App-level faults: added latency and injected errors on chosen route prefixes.

``POST /admin/faults {path?, latency_ms?, error_rate?, status?, for_s?}`` sets
the fault of one route prefix (``path`` absent = every route), replacing any
earlier fault of the same prefix; ``GET`` lists them; ``DELETE`` clears all, or
one with ``?path=``. :class:`AppFaultsMiddleware` (pure ASGI) applies the most
specific matching fault to each HTTP request and WebSocket handshake: it waits
``latency_ms``, then answers ``status`` with probability ``error_rate``.
``/admin/*`` and ``/health`` are never faulted, so a fault can always be
cleared and the target always observed. ``for_s`` (an extension) makes a
fault clear itself, a safety net when the controller dies.

The same endpoint sets the resource faults of :mod:`.resfaults` (a body with
``store`` or ``disk`` instead of ``path``/``latency_ms``/...); ``GET`` shows
them under ``store`` and ``disk``; ``DELETE`` without ``?path=`` clears them too.

Wiring, in the gateway (one registry shared by the routes and the middleware)::

    registry = appfaults.FaultRegistry()
    routes = [..., *appfaults.routes(config, registry)]
    app = appfaults.AppFaultsMiddleware(Starlette(routes=routes), registry)
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import ApiError, json_endpoint, read_json_object
from loadkit.target.resfaults import KINDS, ResourceFaults, parse_resource_fault

__all__ = [
    "EXEMPT_PREFIXES",
    "AppFault",
    "AppFaultsMiddleware",
    "FaultRegistry",
    "parse_fault",
    "routes",
]

EXEMPT_PREFIXES = ("/admin", "/health")
MAX_LATENCY_MS = 600_000.0
FIELDS = ("path", "latency_ms", "error_rate", "status", "for_s")


def _under(path: str, prefix: str) -> bool:
    """``path`` is ``prefix`` or below it: ``/execute`` covers ``/execute/x``, not ``/executex``."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def is_exempt(path: str) -> bool:
    return any(_under(path, prefix) for prefix in EXEMPT_PREFIXES)


@dataclass
class AppFault:
    path: str | None  # route prefix; None = every route
    latency_ms: float = 0.0
    error_rate: float = 0.0
    status: int = 503
    created_at: float = 0.0
    expires_at: float | None = None
    requests: int = field(default=0, compare=False)  # requests it matched
    errors: int = field(default=0, compare=False)  # errors it injected

    def covers(self, path: str) -> bool:
        return self.path is None or _under(path, self.path)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "status": self.status,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "requests": self.requests,
            "errors": self.errors,
        }


class FaultRegistry:
    """The active app-level faults, one per path prefix (in memory: a restart clears them)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._faults: dict[str | None, AppFault] = {}

    def _drop_expired(self) -> None:
        now = self.clock()
        for key, fault in list(self._faults.items()):
            if fault.expires_at is not None and fault.expires_at <= now:
                del self._faults[key]

    def set(self, fault: AppFault) -> None:
        self._faults[fault.path] = fault

    def list(self) -> list[AppFault]:
        self._drop_expired()
        return sorted(self._faults.values(), key=lambda f: f.path or "")

    def clear(self, path: str | None = None, *, all_paths: bool = True) -> int:
        """Clear every fault, or (``all_paths=False``) only ``path``'s (None: the global one)."""
        if all_paths:
            count = len(self._faults)
            self._faults.clear()
            return count
        return 1 if self._faults.pop(path, None) is not None else 0

    def match(self, path: str) -> AppFault | None:
        """The most specific active fault covering ``path`` (never for exempt paths)."""
        if not self._faults or is_exempt(path):
            return None
        self._drop_expired()
        best: AppFault | None = None
        for fault in self._faults.values():
            if fault.covers(path) and (
                best is None or len(fault.path or "") > len(best.path or "")
            ):
                best = fault
        return best


def _number(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"'{name}' must be a number, got {value!r:.40}", name)
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low:g} and {high:g}, got {value}", name)
    return float(value)


def parse_fault(data: dict[str, Any], now: float) -> AppFault:
    """Validate a ``POST /admin/faults`` body; :class:`ApiError` 400 names the bad field."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApiError(
            400,
            f"unknown field '{unknown[0]}'; fields are {', '.join(FIELDS)}"
            " (or store / disk: a resource fault)",
            unknown[0],
        )
    path = data.get("path")
    if path is not None:
        if not isinstance(path, str) or not path.startswith("/") or len(path) > 256:
            raise ApiError(400, "'path' must be a route prefix such as '/execute'", "path")
        if is_exempt(path) or any(_under(p, path) for p in EXEMPT_PREFIXES):
            raise ApiError(400, f"'path' {path!r} would cover /admin or /health", "path")
    latency_ms = _number(data, "latency_ms", 0.0, MAX_LATENCY_MS) or 0.0
    error_rate = _number(data, "error_rate", 0.0, 1.0) or 0.0
    status = data.get("status", 503)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ApiError(
            400, f"'status' must be an HTTP error code 400..599, got {status!r}", "status"
        )
    for_s = _number(data, "for_s", 0.0, 7 * 86400.0)
    if latency_ms == 0 and error_rate == 0:
        raise ApiError(400, "the fault does nothing; give latency_ms > 0 or error_rate > 0", None)
    if for_s == 0:
        raise ApiError(400, "'for_s' must be > 0 (or absent: until cleared)", "for_s")
    return AppFault(
        path=path,
        latency_ms=latency_ms,
        error_rate=error_rate,
        status=status,
        created_at=now,
        expires_at=None if for_s is None else now + for_s,
    )


class AppFaultsMiddleware:
    """Pure ASGI middleware applying the registry's faults to HTTP and WebSocket scopes."""

    def __init__(
        self, app: ASGIApp, registry: FaultRegistry, rng: random.Random | None = None
    ) -> None:
        self.app = app
        self.registry = registry
        self.rng = rng or random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        fault = self.registry.match(scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        fault.requests += 1
        if fault.latency_ms > 0:
            await asyncio.sleep(fault.latency_ms / 1000.0)
        if fault.error_rate > 0 and self.rng.random() < fault.error_rate:
            fault.errors += 1
            await _inject_error(scope, receive, send, fault)
            return
        await self.app(scope, receive, send)


async def _inject_error(scope: Scope, receive: Receive, send: Send, fault: AppFault) -> None:
    body = json.dumps(
        {
            "error": f"injected app-level fault on {fault.path or 'all routes'}",
            "field": None,
            "injected": True,
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {"type": "websocket.http.response.start", "status": fault.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1013})


def routes(
    config: TargetConfig, faults: FaultRegistry, resources: ResourceFaults | None = None
) -> list[BaseRoute]:
    """``/admin/faults`` routes over ``faults`` (see docs/target-api.md, App-level faults)."""
    resource_faults = resources or ResourceFaults()

    def listing(**extra: Any) -> JSONResponse:
        body = {"faults": [f.as_json() for f in faults.list()], **resource_faults.listing()}
        return JSONResponse({**body, **extra})

    @json_endpoint
    async def add_fault(request: Request) -> Response:
        data = await read_json_object(request, config.max_body_bytes)
        if any(kind in data for kind in KINDS):
            resource_faults.set(parse_resource_fault(data, faults.clock()))
            return listing()
        faults.set(parse_fault(data, faults.clock()))
        return listing()

    @json_endpoint
    async def list_faults(request: Request) -> Response:
        return listing()

    @json_endpoint
    async def clear_faults(request: Request) -> Response:
        if "path" in request.query_params:
            path = request.query_params["path"] or None
            return listing(cleared=faults.clear(path, all_paths=False))
        return listing(cleared=faults.clear() + resource_faults.clear())

    return [
        Route("/admin/faults", add_fault, methods=["POST"]),
        Route("/admin/faults", list_faults, methods=["GET"]),
        Route("/admin/faults", clear_faults, methods=["DELETE"]),
    ]
