"""The gateway process: one Starlette app with every route of docs/target-api.md.

Jobs (:mod:`.jobs`), the agent's endpoints and ``/health`` (:mod:`.internal`),
sessions (:mod:`.sessions`) and their message queues (:mod:`.sessionqueues`),
tasks sync + ``WS /ws`` (:mod:`.tasks`), app-level faults (:mod:`.appfaults`,
routes plus a middleware around the app) and resource faults (:mod:`.resfaults`,
shared by every store).
Unknown routes and wrong methods answer with the same JSON error shape.
State lives in ``<data-dir>/gateway.db`` (SQLite WAL).

Run it with ``python -m loadkit.target.gateway --data-dir DIR [--port N]``; it
binds its socket, writes ``<data-dir>/gateway.port`` and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from loadkit.errors import LoadkitError
from loadkit.target import appfaults, internal, jobs, sessionqueues, sessions, tasks
from loadkit.target.config import TargetConfig, add_config_arguments, config_from_args
from loadkit.target.httpjson import ApiError, error_response
from loadkit.target.messages import MessageStore
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.serve import (
    add_hold_argument,
    bind_socket,
    exit_with_error,
    hold_until,
    prepare,
    serve,
    write_port_file,
)
from loadkit.target.store import JobStore

__all__ = ["PORT_FILE", "create_app", "main"]

PORT_FILE = "gateway.port"
log = logging.getLogger("loadkit.target.gateway")


async def _cleanup_loop(config: TargetConfig, store: JobStore) -> None:
    while True:
        await asyncio.sleep(config.cleanup_interval_s)
        try:
            store.cleanup(config.response_ttl_s)
        except Exception:  # the loop must survive a locked DB; the next round retries
            log.exception("automatic cleanup failed")


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers in the target's JSON error shape."""
    assert isinstance(exc, HTTPException)
    return error_response(ApiError(exc.status_code, str(exc.detail)))


def create_app(config: TargetConfig) -> Any:
    """The gateway's ASGI app for ``config`` (opens the database in ``config.data_dir``)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    resources = ResourceFaults()
    store = JobStore(config, resources)
    agents = internal.AgentRegistry(config.agent_stale_s)
    faults = appfaults.FaultRegistry()
    session_store = sessions.SessionStore(config, faults=resources)
    queues = sessionqueues.SessionQueues(config, session_store, MessageStore(config, resources))
    routes: list[BaseRoute] = [
        *jobs.routes(config, store),
        *internal.routes(config, store, agents, resources),
        *sessions.routes(config, session_store, on_delete=queues.forget),
        *sessionqueues.routes(config, queues),
        *tasks.routes(config, faults=resources),
        *appfaults.routes(config, faults, resources),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = None
        if config.cleanup_interval_s > 0:
            task = asyncio.create_task(_cleanup_loop(config, store))
        queues.start()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await queues.stop()
            store.close()

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    return appfaults.AppFaultsMiddleware(app, faults)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadkit.target.gateway", description="loadkit reference target: gateway"
    )
    add_config_arguments(parser, TargetConfig)
    add_hold_argument(parser)
    args = parser.parse_args(argv)
    config = config_from_args(TargetConfig, args, data_dir=Path(args.data_dir).resolve())
    server = prepare(create_app(config), watch_pid=config.watch_pid)
    hold_until(args.hold_until)  # everything slow is done: down until then, up right after
    try:
        sock = bind_socket(config.host, config.port)
    except LoadkitError as exc:
        exit_with_error("gateway", exc)
    write_port_file(config.data_dir / PORT_FILE, sock.getsockname()[1])
    serve(server, sock)


if __name__ == "__main__":
    main()
