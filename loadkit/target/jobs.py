"""The gateway's public job endpoints (docs/target-api.md, Jobs).

``POST /execute`` validates everything before it touches the database: JSON
shape, workspace name, the command (parsed by :mod:`.commands`), ``timeout_ms``;
the queue limit answers 429 with ``Retry-After`` instead of growing without bound.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loadkit.target import commands
from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import (
    ApiError,
    json_endpoint,
    optional_int,
    optional_str,
    read_json_object,
    require_name,
)
from loadkit.target.store import TERMINAL_STATES, JobStore
from loadkit.target.workspaces import is_valid_workspace

__all__ = ["MAX_TIMEOUT_MS", "routes", "validate_job"]

MAX_TIMEOUT_MS = 24 * 3600 * 1000
RETRY_AFTER_S = 1


def _require_text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if value is None:
        raise ApiError(400, f"'{field}' is required", field)
    if not isinstance(value, str):
        raise ApiError(400, f"'{field}' must be a string, got {type(value).__name__}", field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, f"'{field}' holds a lone surrogate; send valid Unicode", field
        ) from None
    return value


def validate_job(data: dict[str, Any]) -> tuple[str, str, int | None]:
    """``(workspace, command, timeout_ms)`` of a ``POST /execute`` body, or an ApiError."""
    workspace = _require_text(data, "workspace")
    if not is_valid_workspace(workspace):
        raise ApiError(
            400,
            f"workspace {workspace!r:.80} must match [A-Za-z0-9_.-]{{1,64}} and not start with '.'",
            "workspace",
        )
    command = _require_text(data, "command")
    try:
        commands.parse(command)
    except commands.CommandError as exc:
        raise ApiError(400, str(exc), "command") from None
    timeout_ms = optional_int(data, "timeout_ms", minimum=1)
    if timeout_ms is not None and timeout_ms > MAX_TIMEOUT_MS:
        raise ApiError(400, f"'timeout_ms' must be at most {MAX_TIMEOUT_MS}", "timeout_ms")
    return workspace, command, timeout_ms


def _optional_ttl(data: dict[str, Any], default: float) -> float:
    value = data.get("ttl_s", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ApiError(400, "'ttl_s' must be a number >= 0", "ttl_s")
    return float(value)


def routes(config: TargetConfig, store: JobStore) -> list[BaseRoute]:
    """Job routes: execute, status, responses, interrupt, cleanup."""

    @json_endpoint
    async def execute(request: Request) -> Response:
        data = await read_json_object(request, config.max_body_bytes)
        workspace, command, timeout_ms = validate_job(data)
        if store.queue_depth() >= config.queue_limit:
            raise ApiError(
                429,
                f"the queue is full ({config.queue_limit} jobs); retry later",
                None,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return JSONResponse(store.submit(workspace, command, timeout_ms), status_code=202)

    def _unknown(request_id: str) -> NoReturn:
        raise ApiError(404, f"no job {request_id!r:.80}", "request_id")

    @json_endpoint
    async def status(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        found = store.status(request_id)
        if found is None:
            _unknown(request_id)
        return JSONResponse(found)

    @json_endpoint
    async def response(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        found = store.output(request_id)
        if found is None:
            _unknown(request_id)
            raise AssertionError  # unreachable: _known raises
        if found.state not in TERMINAL_STATES:
            raise ApiError(409, f"job {request_id} is {found.state}, not finished yet", None)
        if found.output is None:
            raise ApiError(404, f"the response of job {request_id} was deleted by cleanup", None)
        body = {
            "request_id": request_id,
            "state": found.state,
            "output": found.output,
            "error": found.error,
        }
        return Response(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
            media_type="application/json",
        )

    @json_endpoint
    async def interrupt(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        state = store.interrupt(request_id)
        if state is None:
            _unknown(request_id)
        return JSONResponse({"request_id": request_id, "state": state})

    @json_endpoint
    async def cleanup(request: Request) -> Response:
        data: dict[str, Any] = {}
        if request.headers.get("content-length", "0") != "0" or "chunked" in request.headers.get(
            "transfer-encoding", ""
        ):
            data = await read_json_object(request, config.max_body_bytes)
        ttl_s = _optional_ttl(data, config.response_ttl_s)
        workspace = optional_str(data, "workspace", max_len=64)
        if workspace is not None:
            require_name(workspace, "workspace")
        deleted, horizon = store.cleanup(ttl_s, workspace)
        return JSONResponse({"deleted": deleted, "ttl_s": ttl_s, "completed_before": horizon})

    return [
        Route("/execute", execute, methods=["POST"]),
        Route("/status/{request_id}", status, methods=["GET"]),
        Route("/responses/{request_id}", response, methods=["GET"]),
        Route("/interrupt/{request_id}", interrupt, methods=["POST"]),
        Route("/cleanup/run", cleanup, methods=["POST"]),
    ]
