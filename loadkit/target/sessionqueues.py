"""Per-session message queues: each session runs its messages one at a time, in order.

=====================================================  ================================
``POST /sessions/{id}/messages {command}``             202 the message (``queued``)
``GET /sessions/{id}/messages``                        200 ``{session_id, container_id,
                                                       messages}`` in ``seq`` order
``GET /sessions/{id}/messages/{mid}?wait_s=N``         200 the message (waits up to N s
                                                       for it to finish; a running one
                                                       shows its output so far)
``POST /sessions/{id}/messages/{mid}/interrupt``       200 the message, ``interrupted``
                                                       with the output printed so far
=====================================================  ================================

One asyncio task per session with queued messages (a *worker*) waits until the
session's container is up, then runs its messages oldest first; the worker
ends when the queue is empty. Messages run inside the gateway in the session's
container: ``set`` / ``get`` share variables between the sessions of one
container (``<data-dir>/containers/<container_id>``) and nobody else. Sending
a message counts as activity. ``break_session_messages_reordered`` breaks the
order on purpose (newest queued message first).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loadkit.target import commands
from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import ApiError, json_endpoint, read_json_object
from loadkit.target.messages import TERMINAL, MessageStore
from loadkit.target.sessions import Session, SessionStore
from loadkit.target.workspaces import FileVarStore

__all__ = ["MAX_WAIT_S", "SessionQueues", "routes"]

MAX_WAIT_S = 60.0
MAX_COMMAND = 65536
RETRY_AFTER_S = 1


class SessionQueues:
    """The workers of all sessions, and the messages they are running."""

    def __init__(self, config: TargetConfig, sessions: SessionStore, store: MessageStore):
        self.config = config
        self.sessions = sessions
        self.store = store
        self.variables = FileVarStore(config.data_dir, "containers")
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, tuple[asyncio.Task[str], list[str]]] = {}

    def start(self) -> None:
        """Resume the queues left by a previous gateway process (from its lifespan)."""
        for session_id in self.store.requeue_unfinished():
            self._wake(session_id)

    async def stop(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    def submit(self, session: Session, command: str) -> dict[str, Any]:
        if self.store.queued(session.session_id) >= self.config.session_queue_limit:
            raise ApiError(
                429,
                f"session {session.session_id} has {self.config.session_queue_limit} messages"
                " waiting; retry later",
                None,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        message = self.store.add(session.session_id, command)
        self._wake(session.session_id)
        return message

    def interrupt(self, message: dict[str, Any]) -> None:
        """Stop a queued or running message; a running one keeps what it printed so far."""
        running = self._running.pop(message["message_id"], None)
        output = "" if running is None else "".join(running[1])
        self.store.finish(message["message_id"], "interrupted", output, "interrupted by request")
        if running is not None:
            running[0].cancel()

    def forget(self, session_id: str) -> None:
        """A deleted session: stop its worker (and running message), drop its messages."""
        worker = self._workers.pop(session_id, None)
        if worker is not None:
            worker.cancel()
        self.store.drop_session(session_id)

    def with_partial_output(self, message: dict[str, Any]) -> dict[str, Any]:
        """A running message with the output it has printed so far."""
        running = self._running.get(message["message_id"])
        if running is None or message["state"] != "processing":
            return message
        return {**message, "output": "".join(running[1])}

    def _wake(self, session_id: str) -> None:
        if session_id not in self._workers:
            self._workers[session_id] = asyncio.create_task(self._work(session_id))

    async def _work(self, session_id: str) -> None:
        try:
            while True:
                session = self.sessions.get(session_id)
                if session is None:  # deleted: its messages go with it
                    self.store.drop_session(session_id)
                    return
                delay = session.ready_at - self.sessions.clock()
                if delay > 0:
                    await asyncio.sleep(delay + 0.001)
                    continue
                newest_first = self.config.break_session_messages_reordered
                message = self.store.start_next(session_id, newest_first)
                if message is None:
                    return
                await self._run(session, message)
        except ApiError:  # the store is unavailable: the next message sent wakes us again
            return
        finally:
            self._workers.pop(session_id, None)

    async def _run(self, session: Session, message: dict[str, Any]) -> None:
        partial: list[str] = []
        state, error = "completed", None
        command = commands.parse(message["command"])
        task = asyncio.create_task(
            commands.run(command, session.container_id, self.variables, partial)
        )
        self._running[message["message_id"]] = (task, partial)
        try:
            await asyncio.wait({task})  # not `await task`: stopping the worker must not
        finally:  # look like an interrupt (the message stays processing, requeued at start)
            self._running.pop(message["message_id"], None)
            if not task.done():
                task.cancel()
        if task.cancelled():  # interrupted: interrupt() recorded it already
            return
        output = ""
        failure = task.exception()
        if failure is None:
            output = task.result()
        elif isinstance(failure, commands.JobFailed):
            state, error = "failed", str(failure)
        else:  # a bug in a command must fail the message, not the worker
            state, error = "failed", f"{type(failure).__name__}: {failure}"
        self.store.finish(message["message_id"], state, output, error)
        with contextlib.suppress(ApiError):
            self.sessions.touch(session.session_id)


def _wait_s(request: Request) -> float:
    raw = request.query_params.get("wait_s", "0")
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= MAX_WAIT_S:
        raise ApiError(400, f"'wait_s' must be a number of seconds 0..{MAX_WAIT_S:g}", "wait_s")
    return value


def _command(data: dict[str, Any]) -> str:
    value = data.get("command")
    if not isinstance(value, str):
        raise ApiError(400, "'command' is required and must be a string", "command")
    if len(value) > MAX_COMMAND:
        raise ApiError(400, f"'command' is longer than {MAX_COMMAND} characters", "command")
    try:
        commands.parse(value)
    except commands.CommandError as exc:
        raise ApiError(400, str(exc), "command") from None
    return value


def routes(config: TargetConfig, queues: SessionQueues) -> list[BaseRoute]:
    """``/sessions/{id}/messages`` routes (see docs/target-api.md, Session messages)."""
    sessions, store = queues.sessions, queues.store

    def session_of(request: Request) -> Session:
        session_id = request.path_params["session_id"]
        session = sessions.get(session_id)
        if session is None:
            raise ApiError(404, f"no session {session_id!r:.80}", "session_id")
        return session

    def message_of(request: Request) -> dict[str, Any]:
        session = session_of(request)
        message_id = request.path_params["message_id"]
        message = store.get(session.session_id, message_id)
        if message is None:
            raise ApiError(
                404, f"no message {message_id!r:.80} in session {session.session_id}", "message_id"
            )
        return message

    @json_endpoint
    async def send(request: Request) -> Response:
        session = session_of(request)
        data = await read_json_object(request, config.max_body_bytes)
        command = _command(data)
        session = sessions.touch(session.session_id)  # 409 once expired
        return JSONResponse(queues.submit(session, command), status_code=202)

    @json_endpoint
    async def listing(request: Request) -> Response:
        session = session_of(request)
        body = {
            "session_id": session.session_id,
            "container_id": session.container_id,
            "messages": store.in_session(session.session_id),
        }
        return JSONResponse(body)

    @json_endpoint
    async def get_message(request: Request) -> Response:
        message = message_of(request)
        wait_s = _wait_s(request)
        deadline = sessions.clock() + wait_s
        while message["state"] not in TERMINAL and sessions.clock() < deadline:
            await asyncio.sleep(0.02)
            message = message_of(request)
        return JSONResponse(queues.with_partial_output(message))

    @json_endpoint
    async def interrupt(request: Request) -> Response:
        message = message_of(request)
        if message["state"] not in TERMINAL:
            queues.interrupt(message)
            message = message_of(request)
        return JSONResponse(message)

    base = "/sessions/{session_id}/messages"
    return [
        Route(base, send, methods=["POST"]),
        Route(base, listing, methods=["GET"]),
        Route(base + "/{message_id}", get_message, methods=["GET"]),
        Route(base + "/{message_id}/interrupt", interrupt, methods=["POST"]),
    ]
