"""The gateway's agent-facing endpoints and ``GET /health``.

=====================================  ==========================================
``POST /internal/claim``               ``{agent_id, max, wait_s?}`` → ``{jobs, lease_s}``
                                       (waits up to ``wait_s`` for work)
``POST /internal/heartbeat``           ``{agent_id, held, ...health}`` → ``{stop}``
``POST /internal/results/{id}``        ``{state, output, error, attempts}`` →
                                       ``{applied}`` (idempotent)
``POST /internal/release``             ``{agent_id, ids}`` → ``{released}``: an agent
                                       shutting down gives its jobs back
=====================================  ==========================================

A heartbeat extends the leases of the jobs the agent holds and doubles as the
interrupt check: ``stop`` lists held jobs that are already terminal (e.g.
interrupted), which the agent then cancels. The last heartbeat of each agent
is kept in memory and shown by ``/health``.

``/health`` asks the agent's own ``/health`` for its breaker states as it
answers (the heartbeat's copy is used when the agent cannot be reached), so
its ``status`` follows the breaker at once. The rule, in order:

- ``unhealthy``: no agent heartbeat yet or a stale one, a breaker ``open``, or
  the data store unavailable;
- ``degraded``: a breaker ``half_open`` (recovering), or the disk full
  (responses go to the fallback folder);
- ``healthy`` otherwise. ``reasons`` says why it is not healthy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import ApiError, json_endpoint, read_json_object, require_str
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.store import TERMINAL_STATES, JobStore

__all__ = ["AgentProbe", "AgentRegistry", "health_status", "routes"]

_HEALTH_KEYS = ("pid", "url", "running", "outbox", "circuit_breakers", "started_at")
AGENT_PROBE_TIMEOUT_S = 0.5


class AgentRegistry:
    """The last heartbeat of every agent that has called in."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s
        self._beats: dict[str, dict[str, Any]] = {}

    def record(self, agent_id: str, data: dict[str, Any]) -> None:
        beat = {key: data.get(key) for key in _HEALTH_KEYS}
        beat["agent_id"] = agent_id
        beat["last_heartbeat_at"] = time.time()
        self._beats[agent_id] = beat

    def latest(self) -> dict[str, Any] | None:
        if not self._beats:
            return None
        beat = dict(max(self._beats.values(), key=lambda b: b["last_heartbeat_at"]))
        beat["age_s"] = round(time.time() - beat["last_heartbeat_at"], 3)
        beat["stale"] = beat["age_s"] > self.stale_after_s
        return beat


class AgentProbe:
    """The agent's breaker states from its own ``/health``, asked at most every ``max_age_s``.

    One call at a time, so a flood of ``/health`` requests makes no flood of calls.
    """

    def __init__(self, max_age_s: float = 0.1) -> None:
        self.max_age_s = max_age_s
        self.client = httpx.AsyncClient(timeout=AGENT_PROBE_TIMEOUT_S, trust_env=False)
        self._lock = asyncio.Lock()
        self._last: tuple[float, str, dict[str, str] | None] = (0.0, "", None)

    async def breakers(self, agent: dict[str, Any] | None) -> dict[str, str] | None:
        """The breakers now; None when the agent is unknown or does not answer."""
        url = str((agent or {}).get("url") or "")
        if not url:
            return None
        async with self._lock:
            at, last_url, found = self._last
            if last_url == url and time.monotonic() - at < self.max_age_s:
                return found
            found = await self._ask(url)
            self._last = (time.monotonic(), url, found)
            return found

    async def _ask(self, url: str) -> dict[str, str] | None:
        try:
            response = await self.client.get(f"{url}/health")
            breakers = response.json().get("circuit_breakers")
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return dict(breakers) if isinstance(breakers, dict) else None


def health_status(
    agent: dict[str, Any] | None, breakers: dict[str, str], resources: dict[str, Any]
) -> tuple[str, list[str]]:
    """``(status, reasons)`` of ``/health``: the rule of this module's docstring."""
    unhealthy: list[str] = []
    degraded: list[str] = []
    if agent is None:
        unhealthy.append("no agent has called in")
    elif agent["stale"]:
        unhealthy.append(f"the agent's last heartbeat is {agent['age_s']} s old")
    for name, state in sorted(breakers.items()):
        if state == "open":
            unhealthy.append(f"circuit breaker {name} is open")
        elif state != "closed":
            degraded.append(f"circuit breaker {name} is {state}")
    if resources["store"]["status"] != "ok":
        unhealthy.append("the data store is unavailable")
    if resources["disk"]["status"] != "ok":
        degraded.append("the disk is full: responses go to the fallback folder")
    if unhealthy:
        return "unhealthy", unhealthy + degraded
    return ("degraded", degraded) if degraded else ("healthy", [])


def _str_list(data: dict[str, Any], field: str) -> list[str]:
    value = data.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"'{field}' must be a list of strings", field)
    return value


async def _ring_or_hang_up(request: Request, doorbell: Coroutine[Any, Any, None]) -> None:
    """Wait for the doorbell, or less: until the caller hangs up (an agent that stopped).

    Without this a stopped agent's long poll kept the gateway's shutdown waiting
    for up to ``wait_s`` (uvicorn drains in-flight requests on SIGTERM).
    """
    bell = asyncio.ensure_future(doorbell)
    gone = asyncio.ensure_future(_hung_up(request))
    try:
        await asyncio.wait({bell, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (bell, gone):
            task.cancel()


async def _hung_up(request: Request) -> None:
    """Return when the client disconnects (the request body was read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def routes(
    config: TargetConfig,
    store: JobStore,
    agents: AgentRegistry,
    resources: ResourceFaults | None = None,
) -> list[BaseRoute]:
    """Agent routes plus ``/health``."""
    resource_faults = resources or store.db.faults
    probe = AgentProbe()
    # results delivered since this gateway started, and those on a retry (attempts > 1)
    callbacks = {"delivered": 0, "retried": 0}

    @json_endpoint
    async def claim(request: Request) -> Response:
        data = await read_json_object(request, config.max_body_bytes)
        agent_id = require_str(data, "agent_id")
        wanted = data.get("max", 1)
        if isinstance(wanted, bool) or not isinstance(wanted, int) or not 0 <= wanted <= 1000:
            raise ApiError(400, "'max' must be an integer from 0 to 1000", "max")
        wait_s = data.get("wait_s", 0)
        if isinstance(wait_s, bool) or not isinstance(wait_s, int | float) or not 0 <= wait_s <= 30:
            raise ApiError(400, "'wait_s' must be a number from 0 to 30", "wait_s")
        claimed = store.claim(agent_id, wanted)
        if not claimed and wanted and wait_s:
            await _ring_or_hang_up(request, store.doorbell.wait(wait_s))
            # An agent that died (or stopped) while waiting must not be handed jobs.
            if not await request.is_disconnected():
                claimed = store.claim(agent_id, wanted)
        return JSONResponse({"jobs": claimed, "lease_s": config.lease_s})

    @json_endpoint
    async def heartbeat(request: Request) -> Response:
        data = await read_json_object(request, config.max_body_bytes)
        agent_id = require_str(data, "agent_id")
        held = _str_list(data, "held")
        agents.record(agent_id, data)
        return JSONResponse({"stop": store.heartbeat(agent_id, held)})

    @json_endpoint
    async def release(request: Request) -> Response:
        data = await read_json_object(request, config.max_body_bytes)
        agent_id = require_str(data, "agent_id")
        return JSONResponse({"released": store.release(agent_id, _str_list(data, "ids"))})

    @json_endpoint
    async def result(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        data = await read_json_object(request, config.max_result_bytes)
        state = data.get("state")
        if state not in TERMINAL_STATES:
            raise ApiError(400, f"'state' must be one of {sorted(TERMINAL_STATES)}", "state")
        output = data.get("output", "")
        error = data.get("error")
        attempts = data.get("attempts", 1)
        if not isinstance(output, str):
            raise ApiError(400, "'output' must be a string", "output")
        if error is not None and not isinstance(error, str):
            raise ApiError(400, "'error' must be a string or null", "error")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ApiError(400, "'attempts' must be an integer >= 1", "attempts")
        try:
            output.encode("utf-8")
            (error or "").encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(400, "output holds a lone surrogate", "output") from None
        applied = store.apply_result(request_id, state, output, error, attempts)
        if applied is None:
            raise ApiError(404, f"no job {request_id!r:.80}", "request_id")
        callbacks["delivered"] += 1
        callbacks["retried"] += attempts > 1
        return JSONResponse({"request_id": request_id, "applied": applied})

    async def health(request: Request) -> Response:
        resources = resource_faults.health()
        try:
            counts: dict[str, int | None] = {**store.counts()}
        except ApiError:  # the store is unavailable: health still answers
            counts = {"queued": None, "processing": None}
        agent = agents.latest()
        live = await probe.breakers(agent)
        breakers = live if live is not None else dict((agent or {}).get("circuit_breakers") or {})
        if agent is not None:
            agent["reachable"] = live is not None
        status, reasons = health_status(agent, breakers, resources)
        body = {
            "status": status,
            "reasons": reasons,
            "queue_depth": counts["queued"],
            "processing": counts["processing"],
            "circuit_breakers": breakers,
            "agent": agent,
            "callbacks": dict(callbacks),
            **resources,
        }
        return JSONResponse(body)

    return [
        Route("/internal/claim", claim, methods=["POST"]),
        Route("/internal/heartbeat", heartbeat, methods=["POST"]),
        Route("/internal/results/{request_id}", result, methods=["POST"]),
        Route("/internal/release", release, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
