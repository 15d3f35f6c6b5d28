"""The owner of a toxic (or of a disabled proxy): the process whose fault it is.

A client that wants its faults to end with it sends ``"owner"`` with a toxic
(``POST /proxies/{proxy}/toxics``) or with ``"enabled": false``
(``POST /proxies/{proxy}``)::

    "owner": {"pid": 4242, "started": 1796067508.12, "scope": "<boot id>/pid:[4026531836]"}

``started`` is the process's start time (as :func:`psutil.Process.create_time`),
so a reused pid is not mistaken for the owner; ``scope`` names the machine boot
and pid namespace where ``pid`` means that process. The proxy looks at owners
every :data:`WATCH_INTERVAL_S` and, when one is gone (exited, a zombie, or its
pid now belongs to another process), removes its toxics and enables the proxies
it disabled: a fault of a run that was killed ends without anyone's help.

A proxy can only watch a process it can see: an owner from another machine or
pid namespace (a scope that is not the proxy's own) is kept, never dropped,
since dropping a live run's fault would make its verdict wrong. Clients that
send no owner (every Toxiproxy client) get Toxiproxy's behaviour: a toxic stays
until it is removed. Real Toxiproxy ignores the field.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from loadkit._proc import alive
from loadkit.proxy.apierror import BAD_REQUEST_BODY

__all__ = ["WATCH_INTERVAL_S", "Owner", "local_scope"]

WATCH_INTERVAL_S = 0.5
_START_TOLERANCE_S = 0.05  # create_time is in clock ticks (10 ms); allow for rounding


@functools.cache
def local_scope() -> str:
    """This machine's boot and pid namespace ("" where unknown: then nothing is watched)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


@dataclass(frozen=True)
class Owner:
    """A process, by pid, start time and the scope where that pid means it."""

    pid: int
    started: float
    scope: str

    @classmethod
    def of(cls, pid: int) -> Owner:
        """The owner record of a running process ``pid`` (of this machine and namespace)."""
        started = _start_time(pid)
        if started is None:
            raise ProcessLookupError(pid)
        return cls(pid, started, local_scope())

    @classmethod
    def this_process(cls) -> Owner:
        return cls.of(os.getpid())

    @classmethod
    def from_json(cls, raw: Any) -> Owner | None:
        """The owner of an API body's ``owner`` value (None when absent); 400 when malformed."""
        if raw is None:
            return None
        if isinstance(raw, dict):
            pid, started, scope = raw.get("pid"), raw.get("started"), raw.get("scope")
            number = (int, float)
            if (
                isinstance(pid, int)
                and not isinstance(pid, bool)
                and pid > 0
                and isinstance(started, number)
                and not isinstance(started, bool)
                and isinstance(scope, str)
            ):
                return cls(pid, float(started), scope)
        raise BAD_REQUEST_BODY.caused_by(
            'owner must be {"pid": N, "started": SECONDS, "scope": TEXT}, not ' + repr(raw)
        )

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "started": self.started, "scope": self.scope}

    def watchable(self) -> bool:
        """True when this proxy sees the owner's processes (same boot and pid namespace)."""
        return bool(self.scope) and self.scope == local_scope()

    def gone(self) -> bool:
        """True when the owner surely no longer runs; an owner we cannot see is never gone."""
        if not self.watchable():
            return False
        if not alive(self.pid):
            return True
        started = _start_time(self.pid)
        return started is None or abs(started - self.started) > _START_TOLERANCE_S
