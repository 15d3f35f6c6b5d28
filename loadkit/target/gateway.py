"""The gateway process: one Starlette app with every route of docs/target-api.md.

Jobs (:mod:`.jobs`), the agent's endpoints and ``/health`` (:mod:`.internal`),
sessions, tasks sync + ``WS /ws`` and app-level faults (their own modules, each
exposing ``routes(config)``; app faults also wrap the app with its middleware).
State lives in ``<data-dir>/gateway.db`` (SQLite WAL).

Run it with ``python -m loadkit.target.gateway --data-dir DIR [--port N]``; it
binds its socket, writes ``<data-dir>/gateway.port`` and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from loadkit.errors import LoadkitError
from loadkit.target import internal, jobs
from loadkit.target.config import TargetConfig, add_config_arguments, config_from_args
from loadkit.target.serve import bind_socket, exit_with_error, serve, write_port_file
from loadkit.target.store import JobStore

__all__ = ["PORT_FILE", "create_app", "main"]

PORT_FILE = "gateway.port"
# Parts built by other modules; each one is mounted when its module is present.
OPTIONAL_PARTS = ("loadkit.target.sessions", "loadkit.target.tasks", "loadkit.target.appfaults")
log = logging.getLogger("loadkit.target.gateway")


def _optional_module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


async def _cleanup_loop(config: TargetConfig, store: JobStore) -> None:
    while True:
        await asyncio.sleep(config.cleanup_interval_s)
        try:
            store.cleanup(config.response_ttl_s)
        except Exception:  # the loop must survive a locked DB; the next round retries
            log.exception("automatic cleanup failed")


def _wrap_with_config(wrap: Any, config: TargetConfig, app: Any) -> Any:
    return wrap(app, config)


def create_app(config: TargetConfig) -> Any:
    """The gateway's ASGI app for ``config`` (opens the database in ``config.data_dir``)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config)
    agents = internal.AgentRegistry(config.agent_stale_s)
    routes: list[BaseRoute] = [*jobs.routes(config, store), *internal.routes(config, store, agents)]
    middleware: list[Middleware] = []
    wrappers: list[Any] = []
    for name in OPTIONAL_PARTS:
        module = _optional_module(name)
        if module is None:
            continue
        routes += module.routes(config)
        hook = getattr(module, "middleware", None)
        if callable(getattr(module, "wrap", None)):
            wrappers.append(functools.partial(_wrap_with_config, module.wrap, config))
        elif isinstance(hook, Middleware):
            middleware.append(hook)
        elif callable(hook):
            wrappers.append(hook)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = None
        if config.cleanup_interval_s > 0:
            task = asyncio.create_task(_cleanup_loop(config, store))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            store.close()

    app: Any = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    for wrap in wrappers:
        app = wrap(app)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadkit.target.gateway", description="loadkit reference target: gateway"
    )
    add_config_arguments(parser, TargetConfig)
    args = parser.parse_args(argv)
    config = config_from_args(TargetConfig, args, data_dir=Path(args.data_dir).resolve())
    try:
        sock = bind_socket(config.host, config.port)
    except LoadkitError as exc:
        exit_with_error("gateway", exc)
    app = create_app(config)
    write_port_file(config.data_dir / PORT_FILE, sock.getsockname()[1])
    serve(app, sock, watch_pid=config.watch_pid)


if __name__ == "__main__":
    main()
