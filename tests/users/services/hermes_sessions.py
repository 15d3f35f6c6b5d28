"""A session activation service behind a path prefix, for the ``hermes-sessions`` profile.

``POST /hermes/api/sessions/activate {clientId, userId, instruction}`` →
``{sessionId, previewUrl}``; the session is ready when
``GET /session/{sessionId}/health`` answers 200 (503 while it starts, 404 if
unknown). A start takes ``COLD_S``. ``--never-ready`` keeps every session
starting (a broken service, for the failure tests).

Run: ``python tests/users/services/hermes_sessions.py PORT [--never-ready]``.
"""

from __future__ import annotations

import sys
import time
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

COLD_S = 0.15
NEVER_READY = "--never-ready" in sys.argv
started: dict[str, float] = {}


async def activate(request: Request) -> JSONResponse:
    body = await request.json()
    if not all(isinstance(body.get(k), str) for k in ("clientId", "userId", "instruction")):
        return JSONResponse({"error": "clientId, userId, instruction required"}, status_code=422)
    session_id = f"s-{uuid.uuid4().hex[:12]}"
    started[session_id] = time.monotonic()
    preview = f"http://127.0.0.1:{request.url.port}/session/{session_id}/"
    return JSONResponse({"sessionId": session_id, "previewUrl": preview}, status_code=201)


async def health(request: Request) -> Response:
    since = started.get(request.path_params["session_id"])
    if since is None:
        return JSONResponse({"error": "no such session"}, status_code=404)
    if NEVER_READY or time.monotonic() - since < COLD_S:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/hermes/api/sessions/activate", activate, methods=["POST"]),
        Route("/session/{session_id}/health", health),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
