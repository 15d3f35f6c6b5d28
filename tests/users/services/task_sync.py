"""A task sync service with WebSocket notifications, for the ``task-sync`` profile's tests.

``POST /api/tasks {content, priority, repository}`` → 201 ``{id, version, ...}``;
``PUT /api/tasks/{id} {content, version}`` → ``{id, version, ...}`` (409 if the
version is stale); ``POST /api/sync/batch {repository, localTasks: [...]}`` →
``{applied: [...], conflicts: [{taskId, resolution: {strategy}, server}]}``;
``WS /ws``: ``{type: "subscribe", repositories: [...]}`` → ``{type: "subscribed"}``,
then ``{type: "task.created"|"task.updated", taskId, repository, version}``.

``--drop-updates`` never sends ``task.updated`` for odd versions (a broken
service: subscribers miss events, for the failure tests).

Run: ``python tests/users/services/task_sync.py PORT [--drop-updates]``.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

DROP = "--drop-updates" in sys.argv
tasks: dict[str, dict[str, Any]] = {}
subscribers: dict[str, set[WebSocket]] = {}


async def _notify(kind: str, task: dict[str, Any]) -> None:
    if DROP and kind == "task.updated" and task["version"] % 2:
        return
    event = {"type": kind, "taskId": task["id"], "repository": task["repository"],
             "version": task["version"]}  # fmt: skip
    for ws in list(subscribers.get(task["repository"], ())):
        try:
            await ws.send_json(event)
        except Exception:  # a subscriber that went away
            subscribers[task["repository"]].discard(ws)


async def _create(repository: str, content: str, priority: int = 1) -> dict[str, Any]:
    task = {"id": uuid.uuid4().hex[:16], "repository": repository, "content": content,
            "priority": priority, "version": 1}  # fmt: skip
    tasks[task["id"]] = task
    await _notify("task.created", task)
    return task


async def create(request: Request) -> JSONResponse:
    body = await request.json()
    if not isinstance(body.get("repository"), str) or not isinstance(body.get("content"), str):
        return JSONResponse({"error": "repository and content are required"}, status_code=422)
    task = await _create(body["repository"], body["content"], int(body.get("priority", 1)))
    return JSONResponse(task, status_code=201)


async def update(request: Request) -> JSONResponse:
    task = tasks.get(request.path_params["task_id"])
    if task is None:
        return JSONResponse({"error": "no such task"}, status_code=404)
    body = await request.json()
    if body.get("version") is not None and body["version"] != task["version"]:
        return JSONResponse({"error": "stale version", "server": task}, status_code=409)
    task.update(content=str(body.get("content", task["content"])), version=task["version"] + 1)
    await _notify("task.updated", task)
    return JSONResponse(task)


async def batch(request: Request) -> JSONResponse:
    body = await request.json()
    applied, conflicts = [], []
    for local in body.get("localTasks") or []:
        server = tasks.get(str(local.get("id")))
        if server is None:
            applied.append(await _create(body["repository"], str(local.get("content", ""))))
        elif local.get("version") != server["version"]:
            conflicts.append({"taskId": server["id"], "resolution": {"strategy": "server_wins"},
                              "server": dict(server)})  # fmt: skip
        else:
            server.update(content=str(local.get("content")), version=server["version"] + 1)
            await _notify("task.updated", server)
            applied.append(dict(server))
    return JSONResponse({"applied": applied, "conflicts": conflicts})


async def ws_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    mine: set[str] = set()
    try:
        while True:
            message = await ws.receive_json()
            if message.get("type") == "subscribe":
                for repo in message.get("repositories") or []:
                    subscribers.setdefault(str(repo), set()).add(ws)
                    mine.add(str(repo))
                await ws.send_json({"type": "subscribed", "repositories": sorted(mine)})
            elif message.get("type") == "ping":
                await ws.send_json({"type": "pong"})
    except WebSocketDisconnect:
        pass
    finally:
        for repo in mine:
            subscribers.get(repo, set()).discard(ws)


app = Starlette(
    routes=[
        Route("/api/tasks", create, methods=["POST"]),
        Route("/api/tasks/{task_id}", update, methods=["PUT"]),
        Route("/api/sync/batch", batch, methods=["POST"]),
        WebSocketRoute("/ws", ws_endpoint),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
