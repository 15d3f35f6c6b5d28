"""A camelCase workspace gateway, for the ``camel-gateway`` profile's tests.

``POST /execute {chatId, workspace, command, timeoutMs?}`` → ``{requestId}``;
``GET /status/{requestId}`` → ``{state: queued|processing|completed|failed|timeout,
createdAt, queuedAt, processingAt, completedAt, callback: {success, attempts}}``;
``GET /health`` → ``{circuitBreakers: {stopHook: closed}}``; ``POST /cleanup/run``;
``DELETE /admin/jobs/{requestId}`` forgets a job (work lost behind the client's back,
for the loss audit's tests).

Its own command language: ``say TEXT`` completes, ``nap SECONDS`` sleeps,
``oops`` fails. A job's state is computed from its age when asked, so the
service needs no background work. ``--lie`` makes it ignore ``timeoutMs``
(a broken service, for the failure tests); ``--token T`` makes ``POST /execute``
require the header ``X-Token: T``.

Run: ``python tests/users/services/camel_gateway.py PORT [--lie] [--token T]``.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

QUEUED_S = 0.02
LIE = "--lie" in sys.argv
TOKEN = sys.argv[sys.argv.index("--token") + 1] if "--token" in sys.argv else None
jobs: dict[str, dict[str, Any]] = {}


def _state(job: dict[str, Any], now: float) -> dict[str, Any]:
    age = now - job["createdAt"]
    command, run_s = job["command"], 0.03
    if command.startswith("nap "):
        run_s = float(command.split()[1])
    out = {"requestId": job["requestId"], "createdAt": job["createdAt"],
           "queuedAt": job["createdAt"], "processingAt": None, "completedAt": None,
           "callback": {"success": False, "attempts": 0}}  # fmt: skip
    if age < QUEUED_S:
        return {**out, "state": "queued"}
    out["processingAt"] = job["createdAt"] + QUEUED_S
    limit_s = None if job.get("timeoutMs") is None else job["timeoutMs"] / 1000.0
    if limit_s is not None and not LIE and run_s > limit_s and age - QUEUED_S > limit_s:
        end = out["processingAt"] + limit_s
        return {**out, "state": "timeout", "completedAt": end}
    if age < QUEUED_S + run_s:
        return {**out, "state": "processing"}
    state = "failed" if command == "oops" else "completed"
    callback = {"success": True, "attempts": 1}
    return {**out, "state": state, "completedAt": out["processingAt"] + run_s, "callback": callback}


async def execute(request: Request) -> JSONResponse:
    if TOKEN is not None and request.headers.get("x-token") != TOKEN:
        return JSONResponse({"error": "bad or missing X-Token"}, status_code=401)
    body = await request.json()
    if not isinstance(body.get("chatId"), str) or not isinstance(body.get("command"), str):
        return JSONResponse({"error": "chatId and command are required"}, status_code=400)
    request_id = uuid.uuid4().hex
    jobs[request_id] = {"requestId": request_id, "command": body["command"],
                        "timeoutMs": body.get("timeoutMs"), "createdAt": time.time()}  # fmt: skip
    return JSONResponse({"requestId": request_id})


async def status(request: Request) -> JSONResponse:
    job = jobs.get(request.path_params["request_id"])
    if job is None:
        return JSONResponse({"error": "unknown requestId"}, status_code=404)
    return JSONResponse(_state(job, time.time()))


async def forget(request: Request) -> JSONResponse:
    job = jobs.pop(request.path_params["request_id"], None)
    return JSONResponse({"deleted": int(job is not None)}, status_code=200 if job else 404)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"circuitBreakers": {"stopHook": "closed"}})


async def cleanup(request: Request) -> JSONResponse:
    old = [k for k, job in jobs.items() if time.time() - job["createdAt"] > 300]
    for key in old:
        del jobs[key]
    return JSONResponse({"deleted": len(old)})


app = Starlette(
    routes=[
        Route("/execute", execute, methods=["POST"]),
        Route("/status/{request_id}", status),
        Route("/health", health),
        Route("/cleanup/run", cleanup, methods=["POST"]),
        Route("/admin/jobs/{request_id}", forget, methods=["DELETE"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
