"""One proxied TCP connection: the client's socket, the upstream's, two links.

The client side is accepted by the proxy's listener; its reading is held
until the upstream connection is open (if that fails, the client is closed, as
Toxiproxy does). Both sockets get TCP_NODELAY and large write buffers. A
half-close (EOF) is passed on to the other socket once every byte before it
went through; when both directions are finished, or a socket fails, the
connection closes. ``close(reset=True)`` sends TCP RST to both peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Protocol, cast

from loadkit.proxy.link import Link
from loadkit.proxy.toxics import DOWNSTREAM, UPSTREAM, Toxic

WRITE_HIGH_WATER = 1 << 20
#: After a graceful close, sockets still open this long are aborted.
CLOSE_GRACE_S = 2.0


class ConnectionOwner(Protocol):
    """What a connection needs from its proxy."""

    upstream: str

    def toxics(self) -> list[Toxic]: ...
    def forget(self, connection: Connection) -> None: ...


class Side(asyncio.Protocol):
    """One socket of a connection; ``outgoing`` is the link it feeds."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.transport: asyncio.Transport | None = None
        self.outgoing: Link | None = None
        self.incoming: Link | None = None
        #: The peer's transport while ``outgoing`` is a plain copy (no toxic, nothing queued).
        self.fast_peer: asyncio.Transport | None = None
        self.write_paused = False
        self.held = True  # no reading until both sockets are wired
        self._reading = True
        self._early: list[bytes | None] = []
        self._writable: asyncio.Event | None = None

    # -- asyncio.Protocol ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.update_reading()
        self.connection.side_made(self)

    def data_received(self, data: bytes) -> None:
        peer = self.fast_peer
        if peer is not None:  # the no-toxic path: one write, no Python objects in between
            if not peer.is_closing():
                peer.write(data)
            return
        if self.outgoing is None:
            self._early.append(data)
        else:
            self.outgoing.feed(data)

    def eof_received(self) -> bool:
        if self.outgoing is None:
            self._early.append(None)
        else:
            self.outgoing.feed_eof()
        return True  # keep our sending half open: a half-close is passed on

    def connection_lost(self, exc: Exception | None) -> None:
        self.write_paused = False
        if self._writable is not None:
            self._writable.set()
        self.connection.close()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.incoming is not None:
            self.incoming.source.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._writable is not None:
            self._writable.set()
        if self.incoming is not None:
            self.incoming.source.update_reading()

    # -- used by links ---------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def write_eof(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def use_fast_path(self, dest: Side | None) -> None:
        """Write what this socket reads straight to ``dest`` (None: through the link)."""
        self.fast_peer = dest.transport if dest is not None else None

    async def wait_writable(self) -> None:
        while self.write_paused and not self.is_closing():
            if self._writable is None:
                self._writable = asyncio.Event()
            self._writable.clear()
            await self._writable.wait()

    def update_reading(self) -> None:
        """Pause or resume reading from this socket according to backpressure."""
        if self.transport is None or self.transport.is_closing():
            return
        pause = self.held or (self.outgoing is not None and self.outgoing.should_pause_source())
        if pause and self._reading:
            self.transport.pause_reading()
            self._reading = False
        elif not pause and not self._reading:
            self.transport.resume_reading()
            self._reading = True

    def wire(self, outgoing: Link, incoming: Link) -> None:
        """Connect this side to its links and replay what arrived before."""
        self.outgoing, self.incoming = outgoing, incoming
        self.held = False
        early, self._early = self._early, []
        for item in early:
            if item is None:
                outgoing.feed_eof()
            else:
                outgoing.feed(item)
        outgoing.update_fast_path()
        self.update_reading()


class Connection:
    """A client connection through a proxy, and the upstream connection it opened."""

    def __init__(self, owner: ConnectionOwner) -> None:
        self.owner = owner
        self.client = Side(self)
        self.upstream: Side | None = None
        self.links: dict[str, Link] = {}
        self.closed = False
        self._connecting: asyncio.Task[None] | None = None

    def side_made(self, side: Side) -> None:
        if side is self.client:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        host, _, port = self.owner.upstream.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        loop = asyncio.get_running_loop()
        upstream = Side(self)
        try:
            await loop.create_connection(lambda: upstream, host, int(port))
        except (OSError, ValueError):
            self.close()  # Toxiproxy closes the client when the upstream cannot be reached
            return
        finally:
            self._connecting = None
        if self.closed:
            if upstream.transport is not None:
                upstream.transport.close()
            return
        self.upstream = upstream
        up = Link(self, UPSTREAM, self.client, upstream)
        down = Link(self, DOWNSTREAM, upstream, self.client)
        self.links = {UPSTREAM: up, DOWNSTREAM: down}
        for toxic in self.owner.toxics():
            self.links[toxic.stream].attach(toxic)
        upstream.wire(down, up)
        self.client.wire(up, down)

    # -- toxics on the live connection ------------------------------------------
    def attach(self, toxic: Toxic) -> None:
        if toxic.stream in self.links:
            self.links[toxic.stream].attach(toxic)

    def updated(self, toxic: Toxic) -> None:
        if toxic.stream in self.links:
            self.links[toxic.stream].updated(toxic.name)

    def detach(self, toxic: Toxic) -> None:
        if toxic.stream in self.links:
            self.links[toxic.stream].detach(toxic.name)

    # -- ending ---------------------------------------------------------------
    def link_finished(self) -> None:
        if self.links and all(link.finished for link in self.links.values()):
            self.close()

    def close(self, *, reset: bool = False) -> None:
        """Close both sockets (flushing what was written), or reset them (RST)."""
        if self.closed:
            return
        self.closed = True
        if self._connecting is not None:
            self._connecting.cancel()
        for link in self.links.values():
            link.shutdown()
        transports = [
            side.transport
            for side in (self.client, self.upstream)
            if side is not None and side.transport is not None
        ]
        for transport in transports:
            if reset:
                _abort_with_rst(transport)
            elif not transport.is_closing():
                transport.close()
        if not reset:
            asyncio.get_running_loop().call_later(CLOSE_GRACE_S, _abort_all, transports)
        self.owner.forget(self)


def _abort_with_rst(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _abort_all(transports: list[asyncio.Transport]) -> None:
    for transport in transports:
        with contextlib.suppress(RuntimeError, OSError):
            transport.abort()  # no-op for sockets that closed in time
