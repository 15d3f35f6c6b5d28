"""Run the proxy API and every proxy on one event loop until SIGTERM or Ctrl-C.

On a stop signal the API stops accepting requests, every proxy closes its
listener and connections, and :func:`run` returns 0. Meanwhile, every half
second, the toxics (and disables) of owner processes that are gone are undone
(:mod:`loadkit.proxy.owner`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError
from loadkit.proxy.api import ProxyApi
from loadkit.proxy.apierror import ApiError
from loadkit.proxy.httpserver import HttpServer
from loadkit.proxy.owner import WATCH_INTERVAL_S
from loadkit.proxy.proxy import Proxy, ProxyCollection

Announce = Callable[[str, list[Proxy]], None]


def run(
    host: str,
    port: int,
    *,
    config: Path | None = None,
    allow_remote: bool = False,
    announce: Announce | None = None,
) -> int:
    """Serve until a stop signal; returns the exit code (0)."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(host, port, config=config, allow_remote=allow_remote, announce=announce))
    return 0


async def serve(
    host: str,
    port: int,
    *,
    config: Path | None = None,
    allow_remote: bool = False,
    announce: Announce | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    collection = ProxyCollection(allow_remote=allow_remote)
    api = HttpServer(ProxyApi(collection).handle)
    try:
        bound = await api.start(host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            field="--host/--port",
            fix="choose a free port (or --port 0 for any) and a local address",
        ) from None
    try:
        proxies = await populate_from_file(collection, config) if config else []
        if announce is not None:
            announce(f"http://{host}:{bound}", proxies)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        watcher = asyncio.create_task(watch_owners(collection))
        try:
            await stop.wait()
        finally:
            watcher.cancel()
    finally:
        await api.close()
        await collection.close_all()


async def watch_owners(collection: ProxyCollection) -> None:
    """Every WATCH_INTERVAL_S, undo the faults of owners that are gone (loadkit.proxy.owner)."""
    while True:
        await asyncio.sleep(WATCH_INTERVAL_S)
        async with collection.lock:
            notes = await collection.drop_orphans()
        for note in notes:
            print(f"loadkit proxy: {note}", file=sys.stderr, flush=True)


async def populate_from_file(collection: ProxyCollection, path: Path) -> list[Proxy]:
    """Create the proxies of a Toxiproxy ``-config`` JSON file (a list of proxies)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the file: {exc.strerror}", source=source, fix="pass an existing JSON file"
        ) from None
    try:
        entries: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not valid JSON: {exc.msg}",
            source=source,
            line=exc.lineno,
            fix='write a list like [{"name": "db", "listen": "127.0.0.1:0", '
            '"upstream": "127.0.0.1:5432"}]',
        ) from None
    if not isinstance(entries, list):
        raise ConfigError(
            "expected a JSON list of proxies",
            source=source,
            fix='write a list like [{"name": "db", "listen": "127.0.0.1:0", '
            '"upstream": "127.0.0.1:5432"}]',
        )
    async with collection.lock:
        try:
            proxies, error = await collection.populate(entries)
        except ApiError as exc:
            raise ConfigError(
                exc.message, source=source, fix="each proxy needs a name and upstream HOST:PORT"
            ) from None
    if error is not None:
        failed = entries[len(proxies)] if len(proxies) < len(entries) else {}
        name = failed.get("name", "?") if isinstance(failed, dict) else "?"
        raise ConfigError(
            error.message,
            source=source,
            field=f"proxy {name!r}.listen",
            fix="choose a free port (or port 0 for any)",
        )
    return proxies


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    if sys.platform == "win32":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
