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
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import ApiError, json_endpoint, read_json_object, require_str
from loadkit.target.store import TERMINAL_STATES, JobStore

__all__ = ["AgentRegistry", "routes"]

_HEALTH_KEYS = ("pid", "url", "running", "outbox", "circuit_breakers", "started_at")


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


def _str_list(data: dict[str, Any], field: str) -> list[str]:
    value = data.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"'{field}' must be a list of strings", field)
    return value


def routes(config: TargetConfig, store: JobStore, agents: AgentRegistry) -> list[BaseRoute]:
    """Agent routes plus ``/health``."""

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
            await store.doorbell.wait(wait_s)
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
        return JSONResponse({"request_id": request_id, "applied": applied})

    async def health(request: Request) -> Response:
        counts = store.counts()
        agent = agents.latest()
        breakers: dict[str, str] = dict((agent or {}).get("circuit_breakers") or {})
        healthy = agent is not None and not agent["stale"]
        healthy = healthy and all(state == "closed" for state in breakers.values())
        body = {
            "status": "ok" if healthy else "degraded",
            "queue_depth": counts["queued"],
            "processing": counts["processing"],
            "circuit_breakers": breakers,
            "agent": agent,
        }
        return JSONResponse(body)

    return [
        Route("/internal/claim", claim, methods=["POST"]),
        Route("/internal/heartbeat", heartbeat, methods=["POST"]),
        Route("/internal/results/{request_id}", result, methods=["POST"]),
        Route("/internal/release", release, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
