"""Real thread primitives for execnet inside a gevent-patched pytest-xdist worker.

An xdist worker waits for its next test on an Event that execnet's I/O
thread (a real OS thread, started before any patching) sets. execnet creates
its locks and events lazily through ``threading``, which gevent's
``monkey.patch_all()`` (done by ``import locust``) turns into greenlet
primitives that cannot be shared with a real thread. This hands execnet
primitives built on ``_thread``'s own, captured before the patch.
"""

from __future__ import annotations

import _thread
from typing import Any

_allocate_lock = _thread.allocate_lock
_RLock = _thread.RLock


class RealEvent:
    """``threading.Event`` on an unpatched lock (set, clear, wait, is_set)."""

    def __init__(self) -> None:
        self._guard = _allocate_lock()
        self._gate = _allocate_lock()
        self._gate.acquire()  # held while the flag is clear
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._guard:
            if not self._flag:
                self._flag = True
                self._gate.release()

    def clear(self) -> None:
        with self._guard:
            if self._flag:
                self._flag = False
                self._gate.acquire()

    def wait(self, timeout: float | None = None) -> bool:
        if self._gate.acquire(True, -1 if timeout is None else timeout):
            self._gate.release()
        return self._flag


def keep_real_primitives() -> None:
    """Make execnet's thread exec models create real locks and events from now on."""
    from execnet import gateway_base

    def rlock(self: Any) -> Any:
        return _RLock()

    def event(self: Any) -> RealEvent:
        return RealEvent()

    model: Any = gateway_base.ThreadExecModel
    model.Lock = model.RLock = rlock
    model.Event = event
