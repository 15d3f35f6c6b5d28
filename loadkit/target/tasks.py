"""Tasks sync routes: versioned tasks per repo, batch sync with conflicts, ``WS /ws``.

The HTTP side of :mod:`loadkit.target.taskstore` (storage, versions, per-repo
``seq``) and :mod:`loadkit.target.wshub` (fan-out). Concurrency is optimistic:
a write with a stale ``base_version`` is refused (PUT: 409 with the server's
task) or, in a batch sync, reported as a conflict resolved ``server_wins``.
Bodies are limited by ``sync_max_body_bytes`` (413, field ``body``) and a
batch by ``sync_max_changes`` (400, field ``changes``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import (
    ApiError,
    json_endpoint,
    optional_int,
    optional_str,
    read_json_object,
    require_name,
)
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.taskstore import (
    MAX_CLIENT_ID,
    MAX_STATUS,
    MAX_TITLE,
    UNSET,
    Conflict,
    TaskStore,
    UnknownTask,
)
from loadkit.target.wshub import Hub

__all__ = ["routes"]

# -- validation of request bodies ---------------------------------------------


def _fields(data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """title/status/meta/base_version/task_id of a body or a sync change, validated."""

    def name(field: str) -> str:
        return f"{where}{field}"

    try:
        fields: dict[str, Any] = {
            "title": optional_str(data, "title", MAX_TITLE, allow_empty=True),
            "status": optional_str(data, "status", MAX_STATUS),
            "base_version": optional_int(data, "base_version", 0),
        }
        task_id = optional_str(data, "task_id", 64)
    except ApiError as exc:
        raise ApiError(exc.status, f"{where}{exc.message}", name(exc.field or "")) from None
    if task_id is not None:
        fields["task_id"] = require_name(task_id, name("task_id"))
    if "meta" in data:
        fields["meta"] = data["meta"]
    return fields


def _client_id(data: dict[str, Any]) -> str | None:
    return optional_str(data, "client_id", MAX_CLIENT_ID)


def routes(
    config: TargetConfig, hub: Hub | None = None, faults: ResourceFaults | None = None
) -> list[BaseRoute]:
    """``/repos/{repo}/…`` routes and ``WS /ws`` (see docs/target-api.md, Tasks sync).

    Also ``GET /admin/ws``: the hub's counters (connections, repos, published, dropped).
    """
    events_hub = hub or Hub()
    store = TaskStore(config, events_hub, faults=faults)
    limit = config.sync_max_body_bytes

    async def read_body(request: Request) -> dict[str, Any]:
        try:
            return await read_json_object(request, limit)
        except ApiError as exc:
            if exc.status != 413:
                raise
            raise ApiError(
                413, f"body is larger than {limit} bytes (the target's sync_max_body_bytes)", "body"
            ) from None

    def repo_of(request: Request) -> str:
        return require_name(request.path_params["repo"], "repo")

    @json_endpoint
    async def create_task(request: Request) -> Response:
        repo = repo_of(request)
        data = await read_body(request)
        fields = _fields(data)
        if fields["title"] is None:
            raise ApiError(400, "'title' is required", "title")
        task = store.create(
            repo, fields["title"], fields["status"], _client_id(data), fields.get("meta")
        )
        return JSONResponse(task, status_code=201)

    @json_endpoint
    async def list_tasks(request: Request) -> Response:
        repo = repo_of(request)
        return JSONResponse({"tasks": store.in_repo(repo), "seq": store.seq(repo)})

    @json_endpoint
    async def get_task(request: Request) -> Response:
        repo = repo_of(request)
        task = store.get(repo, request.path_params["task_id"])
        if task is None:
            raise ApiError(404, "no such task", "task_id")
        return JSONResponse(task)

    @json_endpoint
    async def update_task(request: Request) -> Response:
        repo = repo_of(request)
        task_id = request.path_params["task_id"]
        data = await read_body(request)
        fields = _fields(data)
        try:
            task = store.update(
                repo,
                task_id,
                title=fields["title"],
                status=fields["status"],
                meta=fields.get("meta", UNSET),
                base_version=fields["base_version"],
                client_id=_client_id(data),
            )
        except Conflict as exc:
            raise ApiError(
                409,
                f"base_version {fields['base_version']} is stale: {exc}; "
                "re-read the task and retry",
                "base_version",
                extra={"task": exc.task},
            ) from None
        if task is None:
            raise ApiError(404, f"no task {task_id!r:.80} in repo {repo}", "task_id")
        return JSONResponse(task)

    @json_endpoint
    async def sync(request: Request) -> Response:
        repo = repo_of(request)
        data = await read_body(request)
        client_id = _client_id(data)
        raw = data.get("changes")
        if not isinstance(raw, list):
            raise ApiError(400, "'changes' must be a list of change objects", "changes")
        if len(raw) > config.sync_max_changes:
            raise ApiError(
                400,
                f"{len(raw)} changes; at most {config.sync_max_changes} per sync"
                " (the target's sync_max_changes)",
                "changes",
            )
        changes = []
        for index, change in enumerate(raw):
            where = f"changes[{index}]."
            if not isinstance(change, dict):
                raise ApiError(400, f"changes[{index}] must be an object", f"changes[{index}]")
            fields = _fields(change, where)
            if fields.get("task_id") is None and fields["title"] is None:
                raise ApiError(400, f"{where}title is required for a new task", f"{where}title")
            changes.append({k: v for k, v in fields.items() if v is not None or k == "meta"})
        try:
            applied, conflicts = store.sync(repo, client_id, changes)
        except UnknownTask as exc:
            raise ApiError(400, f"{exc}; give a title to create it", "changes") from None
        body = {
            "applied": applied,
            "conflicts": conflicts,
            "tasks": store.in_repo(repo),
            "seq": store.seq(repo),
        }
        return JSONResponse(body)

    async def ws_stats(request: Request) -> Response:
        return JSONResponse(events_hub.stats())

    return [
        Route("/admin/ws", ws_stats, methods=["GET"]),
        Route("/repos/{repo}/tasks", create_task, methods=["POST"]),
        Route("/repos/{repo}/tasks", list_tasks, methods=["GET"]),
        Route("/repos/{repo}/tasks/{task_id}", get_task, methods=["GET"]),
        Route("/repos/{repo}/tasks/{task_id}", update_task, methods=["PUT"]),
        Route("/repos/{repo}/sync", sync, methods=["POST"]),
        events_hub.route("/ws"),
    ]
