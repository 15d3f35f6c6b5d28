"""Proxies (a listener, its connections and toxics) and the proxy collection.

Behaviour follows Toxiproxy: a proxy listens on ``listen`` and opens one
upstream connection per client; disabling it closes the listener and every
connection; changing ``listen`` or ``upstream`` restarts it; ``listen`` with
port 0 picks a free port and the proxy reports the real one. Unlike
Toxiproxy, a listen address without a host means 127.0.0.1 and non-loopback
addresses are refused unless the server was started with ``--allow-remote``.
Also unlike Toxiproxy, a toxic (or a disable) may name its owner process, and
:meth:`ProxyCollection.drop_orphans` undoes it once that process is gone
(see :mod:`loadkit.proxy.owner`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from http import HTTPStatus
from typing import Any

from loadkit.proxy.apierror import (
    BAD_REQUEST_BODY,
    MISSING_FIELD,
    PROXY_ALREADY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_NOT_FOUND,
    ApiError,
)
from loadkit.proxy.connection import Connection
from loadkit.proxy.owner import Owner
from loadkit.proxy.toxics import STREAMS, Toxic, parse_new_toxic, parse_toxic_update

LISTEN_BACKLOG = 1024


def split_address(address: str, field: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) -> (host, port); bad input is a 400."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise BAD_REQUEST_BODY.caused_by(f"{field} {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port_text)


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_host(host: str, allow_remote: bool) -> str:
    """The address to bind for a listen host: loopback unless remote is allowed."""
    if host in ("", "localhost"):
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise BAD_REQUEST_BODY.caused_by(
            f"listen host {host!r} is not a loopback address; use 127.0.0.1, or start "
            "'loadkit proxy --allow-remote' to listen on other interfaces"
        )
    return host


class Proxy:
    """A named listener forwarding to ``upstream`` through its toxics."""

    def __init__(self, name: str, listen: str, upstream: str, *, allow_remote: bool) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.allow_remote = allow_remote
        self.connections: set[Connection] = set()
        self._toxics: list[Toxic] = []
        self._server: asyncio.Server | None = None
        self.disabled_by: Owner | None = None  # enabled again by the proxy when it is gone

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics_json(),
        }
        if self.disabled_by is not None:
            body["disabled_by"] = self.disabled_by.to_json()
        return body

    # -- listener ---------------------------------------------------------------
    async def start(self) -> None:
        if self.enabled:
            return
        host, port = split_address(self.listen or ":0", "listen")
        host = listen_host(host, self.allow_remote)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._accept, host, port, backlog=LISTEN_BACKLOG, reuse_address=True
            )
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            message = f"listen tcp {join_address(host, port)}: bind: {reason}"
            raise ApiError(message, HTTPStatus.INTERNAL_SERVER_ERROR) from exc
        bound_port = self._server.sockets[0].getsockname()[1]
        self.listen = join_address(host, bound_port)
        self.enabled = True
        self.disabled_by = None

    async def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.connections):
            connection.close()

    async def update(
        self, listen: str, upstream: str, enabled: bool, owner: Owner | None = None
    ) -> None:
        """Change the addresses and state; a disable may name its ``owner``."""
        if listen != self.listen or upstream != self.upstream:
            split_address(upstream, "upstream")
            split_address(listen or ":0", "listen")
            await self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            await self.stop()
            self.disabled_by = owner

    def _accept(self) -> Any:
        connection = Connection(self)
        self.connections.add(connection)
        return connection.client

    # -- ConnectionOwner ----------------------------------------------------------
    def toxics(self) -> list[Toxic]:
        return list(self._toxics)

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)

    # -- toxics -------------------------------------------------------------------
    def toxics_json(self) -> list[dict[str, Any]]:
        """Upstream toxics first, then downstream, each in the order added (as Toxiproxy)."""
        ordered = [t for stream in STREAMS for t in self._toxics if t.stream == stream]
        return [t.to_json() for t in ordered]

    def get_toxic(self, name: str) -> Toxic:
        for toxic in self._toxics:
            if toxic.name == name:
                return toxic
        raise TOXIC_NOT_FOUND

    def add_toxic(self, body: Any) -> Toxic:
        toxic = parse_new_toxic(body, exists=lambda n: any(t.name == n for t in self._toxics))
        self._toxics.append(toxic)
        for connection in list(self.connections):
            connection.attach(toxic)
        return toxic

    def update_toxic(self, name: str, body: Any) -> Toxic:
        toxic = self.get_toxic(name)
        toxic.attributes, toxic.toxicity = parse_toxic_update(toxic, body)
        for connection in list(self.connections):
            connection.updated(toxic)
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self.get_toxic(name)
        self._toxics.remove(toxic)
        for connection in list(self.connections):
            connection.detach(toxic)

    def reset_toxics(self) -> None:
        for toxic in list(self._toxics):
            self.remove_toxic(toxic.name)


def proxy_fields(body: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """name/listen/upstream/enabled from a JSON body, typed as Toxiproxy decodes them."""
    if not isinstance(body, dict):
        raise BAD_REQUEST_BODY.caused_by("expected a JSON object")
    fields = dict(defaults)
    for key in ("name", "listen", "upstream"):
        value = body.get(key, fields.get(key, ""))
        if not isinstance(value, str):
            raise BAD_REQUEST_BODY.caused_by(f"{key} must be a string, not {value!r}")
        fields[key] = value
    enabled = body.get("enabled", fields.get("enabled", True))
    if not isinstance(enabled, bool):
        raise BAD_REQUEST_BODY.caused_by(f"enabled must be true or false, not {enabled!r}")
    fields["enabled"] = enabled
    return fields


class ProxyCollection:
    """Every proxy by name. Callers hold ``lock`` around each API operation."""

    def __init__(self, *, allow_remote: bool = False) -> None:
        self.allow_remote = allow_remote
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise PROXY_NOT_FOUND from None

    def new_proxy(self, body: Any, *, where: str = "") -> tuple[Proxy, bool]:
        """A (not yet started) proxy and its ``enabled`` flag from a create body."""
        fields = proxy_fields(body, {"enabled": True})
        if not fields["name"]:
            raise MISSING_FIELD.caused_by(f"name{where}")
        if not fields["upstream"]:
            raise MISSING_FIELD.caused_by(f"upstream{where}")
        split_address(fields["upstream"], "upstream")
        if fields["listen"]:
            split_address(fields["listen"], "listen")
        proxy = Proxy(
            fields["name"], fields["listen"], fields["upstream"], allow_remote=self.allow_remote
        )
        return proxy, fields["enabled"]

    async def add(self, proxy: Proxy, start: bool) -> None:
        if proxy.name in self.proxies:
            raise PROXY_ALREADY_EXISTS
        if start:
            await proxy.start()
        self.proxies[proxy.name] = proxy

    async def add_or_replace(self, proxy: Proxy, start: bool) -> Proxy:
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if existing.listen == proxy.listen and existing.upstream == proxy.upstream:
                return existing
            await existing.stop()
            del self.proxies[proxy.name]
        await self.add(proxy, start)
        return proxy

    async def populate(self, body: Any) -> tuple[list[Proxy], ApiError | None]:
        """Create or replace a list of proxies; validate all before changing any."""
        if not isinstance(body, list):
            raise BAD_REQUEST_BODY.caused_by("expected a JSON array of proxies")
        planned: list[tuple[Proxy, bool]] = []
        names: set[str] = set()
        for index, item in enumerate(body, start=1):
            proxy, enabled = self.new_proxy(item, where=f" at proxy {index}")
            if proxy.name in names:
                raise BAD_REQUEST_BODY.caused_by(f"duplicate proxy name {proxy.name!r}")
            names.add(proxy.name)
            planned.append((proxy, enabled))
        done: list[Proxy] = []
        for proxy, enabled in planned:
            try:
                done.append(await self.add_or_replace(proxy, enabled))
            except ApiError as exc:
                return done, exc
        return done, None

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            proxy.reset_toxics()

    async def drop_orphans(self) -> list[str]:
        """Remove the toxics, and enable the proxies, of owners that are gone; what was done."""
        gone: dict[Owner, bool] = {}

        def is_gone(owner: Owner) -> bool:
            if owner not in gone:
                gone[owner] = owner.gone()
            return gone[owner]

        done: list[str] = []
        for proxy in list(self.proxies.values()):
            for toxic in proxy.toxics():
                if toxic.owner is not None and is_gone(toxic.owner):
                    proxy.remove_toxic(toxic.name)
                    done.append(
                        f"removed toxic {toxic.name} of proxy {proxy.name}: "
                        f"its owner (pid {toxic.owner.pid}) is gone"
                    )
            owner = proxy.disabled_by
            if owner is not None and not proxy.enabled and is_gone(owner):
                try:
                    await proxy.start()
                except ApiError as exc:
                    proxy.disabled_by = None  # do not retry every tick; say why once
                    done.append(f"cannot enable proxy {proxy.name} again: {exc.message}")
                else:
                    done.append(f"enabled proxy {proxy.name}: its owner (pid {owner.pid}) is gone")
        return done

    async def close_all(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.stop()
