"""A link: one direction of a proxied connection, with its chain of toxics.

``upstream`` links carry client -> server bytes, ``downstream`` links server ->
client bytes. Without an active toxic a link is a plain copy: each chunk read
is written straight to the other socket's transport inside the read callback
(``Endpoint.use_fast_path``: no link call, no task, no queue), with
backpressure by pausing the reading socket while the writing socket's buffer
is full. When a toxic applies, chunks are stamped with their
arrival time, queued, and a pump task passes them through the toxics in the
order they were added (as Toxiproxy chains them). Toxics are added, updated
and removed on live links; a removed toxic's pending sleeps end at once.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from loadkit.proxy.toxics import Toxic

#: Bytes queued in a toxic link before the reading socket is paused.
QUEUE_HIGH_WATER = 1 << 20

Emit = Callable[[bytes], Awaitable[None]]


class Endpoint(Protocol):
    """The socket side a link reads from or writes to (see ``connection.Side``)."""

    write_paused: bool

    def use_fast_path(self, dest: Any) -> None: ...
    def write(self, data: bytes) -> None: ...
    def write_eof(self) -> None: ...
    def is_closing(self) -> bool: ...
    async def wait_writable(self) -> None: ...
    def update_reading(self) -> None: ...


class LinkOwner(Protocol):
    """What a link asks of its connection."""

    def close(self, *, reset: bool = False) -> None: ...
    def link_finished(self) -> None: ...


class LinkToxic:
    """A toxic's state on one link: whether it applies, timers, counters."""

    def __init__(self, toxic: Toxic, link: Link) -> None:
        self.toxic = toxic
        self.link = link
        self.affected = random.random() < toxic.toxicity
        self.removed = False
        self.transmitted = 0  # limit_data
        self.next_send = 0.0  # bandwidth
        self.reset_armed = False  # reset_peer
        self._timer: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.start()

    def start(self) -> None:
        """(Re)start time-driven behaviour: the timeout toxic's close timer."""
        self.cancel_timer()
        if self.affected and self.toxic.type == "timeout" and self.toxic.attr("timeout") > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.toxic.attr("timeout") / 1000, self.link.owner.close)

    def redraw(self) -> None:
        """After an update: draw toxicity again and restart timers (as Toxiproxy)."""
        self.affected = random.random() < self.toxic.toxicity
        self.start()
        self.notify()

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def notify(self) -> None:
        """Wake a pending sleep so it re-reads the attributes (or ends, if removed)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def sleep_until(self, deadline: Callable[[], float]) -> None:
        """Sleep until ``deadline()`` (loop time), re-read on each change; end on removal."""
        loop = asyncio.get_running_loop()
        while not self.removed:
            remaining = deadline() - loop.time()
            if remaining <= 0:
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            handle = loop.call_later(remaining, _resolve, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                self._waiter = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Link:
    """One direction of a connection: ``source`` socket -> toxics -> ``dest`` socket."""

    def __init__(self, owner: LinkOwner, stream: str, source: Endpoint, dest: Endpoint) -> None:
        self.owner = owner
        self.stream = stream
        self.source = source
        self.dest = dest
        self.chain: list[LinkToxic] = []
        self.toxic = False  # some toxic in the chain applies to this link
        self.queued_bytes = 0
        self.finished = False
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- toxics -------------------------------------------------------------
    def attach(self, toxic: Toxic) -> None:
        self.chain.append(LinkToxic(toxic, self))
        self._changed()

    def updated(self, name: str) -> None:
        for link_toxic in self.chain:
            if link_toxic.toxic.name == name:
                link_toxic.redraw()
        self._changed()

    def detach(self, name: str) -> None:
        for link_toxic in [lt for lt in self.chain if lt.toxic.name == name]:
            self.chain.remove(link_toxic)
            link_toxic.removed = True
            link_toxic.cancel_timer()
            link_toxic.notify()
            if link_toxic.affected and link_toxic.toxic.type == "timeout":
                # Data was dropped while it held: Toxiproxy closes such links on removal.
                self.owner.close()
        self._changed()

    def _changed(self) -> None:
        self.toxic = any(lt.affected for lt in self.chain)
        self._wake.set()
        self.update_fast_path()

    @property
    def pumping(self) -> bool:
        """Bytes arrived since a toxic applied: they pass through the pump task."""
        return self._pump is not None

    def update_fast_path(self) -> None:
        """Let the source write straight to the destination while nothing is toxic or queued."""
        plain = not self.pumping and not self.toxic and not self.finished
        self.source.use_fast_path(self.dest if plain else None)

    # -- data from the source socket -----------------------------------------
    def feed(self, data: bytes) -> None:
        if self._pump is None and not self.toxic:
            self.dest.write(data)  # the fast path: no toxic, nothing queued
            return
        self._enqueue(data)

    def feed_eof(self) -> None:
        if self._pump is None and not self.toxic:
            self._finish()
            return
        self._enqueue(None)

    def should_pause_source(self) -> bool:
        return self.dest.write_paused or self.queued_bytes >= QUEUE_HIGH_WATER

    def _enqueue(self, data: bytes | None) -> None:
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time(), data))
        if data is not None:
            self.queued_bytes += len(data)
            if self.queued_bytes >= QUEUE_HIGH_WATER:
                self.source.update_reading()
        self._wake.set()
        if self._pump is None:
            self._pump = loop.create_task(self._run_pump())
            self.update_fast_path()

    def _finish(self) -> None:
        """The source sent EOF and every byte before it went out: pass the EOF on."""
        if self.finished:
            return
        self.finished = True
        if not self.dest.is_closing():
            self.dest.write_eof()
        self.owner.link_finished()

    def shutdown(self) -> None:
        """Stop the pump and every timer; the connection is closing."""
        for link_toxic in self.chain:
            link_toxic.removed = True
            link_toxic.cancel_timer()
            link_toxic.notify()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    # -- the pump (toxic path) -------------------------------------------------
    async def _run_pump(self) -> None:
        try:
            while True:
                if not self._queue:
                    if not self.toxic:
                        return  # back to the fast path
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                arrived, data = self._queue.popleft()
                if data is None:
                    await self._eof_through(list(self.chain))
                    self._finish()
                    return
                self.queued_bytes -= len(data)
                if self.queued_bytes < QUEUE_HIGH_WATER:
                    self.source.update_reading()
                await self._through(list(self.chain), 0, data, arrived)
        except Exception:
            self.owner.close()  # a bug must not leave the connection hanging
            raise
        finally:
            if self._pump is asyncio.current_task():
                self._pump = None
                self.update_fast_path()

    async def _through(self, chain: list[LinkToxic], index: int, data: bytes, t0: float) -> None:
        while index < len(chain) and (chain[index].removed or not chain[index].affected):
            index += 1
        if index == len(chain):
            await self._write(data)
            return

        async def emit(piece: bytes) -> None:
            await self._through(chain, index + 1, piece, t0)

        link_toxic = chain[index]
        await BEHAVIOURS[link_toxic.toxic.type](link_toxic, data, t0, emit)

    async def _eof_through(self, chain: list[LinkToxic]) -> None:
        for link_toxic in chain:
            if link_toxic.affected and link_toxic.toxic.type == "slow_close":
                await _slow_close(link_toxic)

    async def _write(self, data: bytes) -> None:
        if self.dest.write_paused:
            await self.dest.wait_writable()
        if not self.dest.is_closing():
            self.dest.write(data)


# -- what each toxic does to a chunk -------------------------------------------
Behaviour = Callable[[LinkToxic, bytes, float, Emit], Awaitable[None]]


async def _latency(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    jitter = lt.toxic.attr("jitter")
    offset = random.randint(-jitter, jitter) if jitter else 0
    await lt.sleep_until(lambda: t0 + max(0, lt.toxic.attr("latency") + offset) / 1000)
    await emit(data)


async def _bandwidth(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    loop = asyncio.get_running_loop()
    while data:
        rate = lt.toxic.attr("rate") * 1000  # KB/s -> bytes/s
        if rate <= 0 or lt.removed:
            await emit(data)
            return
        piece, data = data[: max(1, rate // 10)], data[max(1, rate // 10) :]  # <= 100 ms each
        lt.next_send = max(loop.time(), lt.next_send) + len(piece) / rate
        await lt.sleep_until(lambda: lt.next_send)
        await emit(piece)


async def _slicer(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    loop = asyncio.get_running_loop()
    while data:
        average, variation = lt.toxic.attr("average_size"), lt.toxic.attr("size_variation")
        if lt.removed or average < 1:
            await emit(data)
            return
        size = max(1, average + (random.randint(-variation, variation) if variation else 0))
        piece, data = data[:size], data[size:]
        await emit(piece)
        if data and lt.toxic.attr("delay") > 0:
            await _pause_us(lt, loop.time())


async def _pause_us(lt: LinkToxic, start: float) -> None:
    await lt.sleep_until(lambda: start + lt.toxic.attr("delay") / 1_000_000)


async def _limit_data(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    remaining = lt.toxic.attr("bytes") - lt.transmitted
    piece = data[: max(0, remaining)]
    if piece:
        lt.transmitted += len(piece)
        await emit(piece)
    if lt.transmitted >= lt.toxic.attr("bytes"):
        lt.link.owner.close()


async def _timeout(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    """Drop the data; the close after ``timeout`` is a timer (see LinkToxic.start)."""


async def _reset_peer(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    """Drop the data; ``timeout`` ms after the first chunk, reset both sockets."""
    if lt.reset_armed:
        return
    lt.reset_armed = True
    start = asyncio.get_running_loop().time()
    await lt.sleep_until(lambda: start + lt.toxic.attr("timeout") / 1000)
    if not lt.removed:
        lt.link.owner.close(reset=True)


async def _slow_close(lt: LinkToxic) -> None:
    """At EOF: wait ``delay`` ms before passing the close on."""
    start = asyncio.get_running_loop().time()
    await lt.sleep_until(lambda: start + lt.toxic.attr("delay") / 1000)


async def _pass(lt: LinkToxic, data: bytes, t0: float, emit: Emit) -> None:
    await emit(data)  # slow_close acts on EOF only


BEHAVIOURS: dict[str, Behaviour] = {
    "latency": _latency,
    "bandwidth": _bandwidth,
    "slicer": _slicer,
    "limit_data": _limit_data,
    "timeout": _timeout,
    "reset_peer": _reset_peer,
    "slow_close": _pass,
}
