"""Resource faults of the gateway: its data store unavailable, its disk full.

Set through the same ``POST /admin/faults`` as the app-level faults, with a
different body (see docs/target-api.md, App-level faults):

- ``{"store": "unavailable", "for_s"?}``: every query of the gateway's SQLite
  store raises as if the database connection were lost (the connections are
  closed); endpoints that need the store answer 503 and ``/health`` is
  ``unhealthy``. When the fault ends the store reconnects on its next query and
  counts ``reconnects``.
- ``{"disk": "full", "for_s"?}``: writes of job responses to the primary store
  fail as with ``ENOSPC``; responses go to ``<data-dir>/fallback/`` instead
  (``/status`` says ``response_location: "fallback"``, ``/health`` counts them).

:class:`ResourceFaults` is shared by the stores (through
:class:`~loadkit.target.statedb.Database`), the admin routes and ``/health``;
it lives in memory, so a gateway restart clears it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadkit.target.httpjson import ApiError

__all__ = ["KINDS", "ResourceFault", "ResourceFaults", "StoreUnavailable", "parse_resource_fault"]

# Body field -> the one value it accepts (the fault's kind is the field).
KINDS = {"store": "unavailable", "disk": "full"}
MAX_FOR_S = 7 * 86400.0


class StoreUnavailable(ApiError):
    """The data store cannot be reached (the ``store`` fault is active): a 503 answer."""

    def __init__(self, message: str = "the data store is unavailable (connection lost)") -> None:
        super().__init__(503, f"{message}; retry later", None, headers={"Retry-After": "1"})


@dataclass
class ResourceFault:
    kind: str  # "store" or "disk"
    created_at: float
    expires_at: float | None
    hits: int = 0  # queries refused (store) or responses sent to the fallback (disk)

    def as_json(self) -> dict[str, Any]:
        return {
            self.kind: KINDS[self.kind],
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "hits": self.hits,
        }


class ResourceFaults:
    """The active resource faults (at most one per kind) and the store's reconnect count."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._faults: dict[str, ResourceFault] = {}
        self.reconnects = 0
        self.fallback_writes = 0

    def active(self, kind: str) -> ResourceFault | None:
        fault = self._faults.get(kind)
        if fault is not None and fault.expires_at is not None and fault.expires_at <= self.clock():
            del self._faults[kind]
            return None
        return fault

    def store_unavailable(self) -> bool:
        fault = self.active("store")
        if fault is None:
            return False
        fault.hits += 1
        return True

    def disk_full(self) -> bool:
        return self.active("disk") is not None

    def record_fallback(self) -> None:
        self.fallback_writes += 1
        fault = self.active("disk")
        if fault is not None:
            fault.hits += 1

    def set(self, fault: ResourceFault) -> None:
        self._faults[fault.kind] = fault

    def clear(self) -> int:
        count = len([k for k in KINDS if self.active(k) is not None])
        self._faults.clear()
        return count

    def listing(self) -> dict[str, Any]:
        """``{"store": fault or null, "disk": fault or null}`` for ``GET /admin/faults``."""
        return {k: None if (f := self.active(k)) is None else f.as_json() for k in KINDS}

    def health(self) -> dict[str, Any]:
        """The ``store`` and ``disk`` parts of ``/health``."""
        store = self.active("store")
        return {
            "store": {
                "status": "unavailable" if store is not None else "ok",
                "reconnects": self.reconnects,
            },
            "disk": {
                "status": "full" if self.active("disk") is not None else "ok",
                "fallback_responses": self.fallback_writes,
            },
        }


def parse_resource_fault(data: dict[str, Any], now: float) -> ResourceFault:
    """Validate ``{"store": "unavailable"}`` / ``{"disk": "full"}`` (+ ``for_s``).

    A bad body is an :class:`ApiError` 400 naming the field.
    """
    kinds = [k for k in KINDS if k in data]
    if len(kinds) != 1:
        raise ApiError(400, "give one of 'store' or 'disk', not both", "disk")
    kind = kinds[0]
    allowed = {kind, "for_s"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(
            400,
            f"field '{unknown[0]}' does not go with '{kind}'; a {kind} fault takes {kind}, for_s",
            unknown[0],
        )
    if data[kind] != KINDS[kind]:
        raise ApiError(400, f"'{kind}' must be {KINDS[kind]!r}, got {data[kind]!r:.40}", kind)
    for_s = data.get("for_s")
    if for_s is not None and (
        isinstance(for_s, bool) or not isinstance(for_s, int | float) or not 0 < for_s <= MAX_FOR_S
    ):
        raise ApiError(400, f"'for_s' must be seconds > 0 and <= {MAX_FOR_S:g}", "for_s")
    return ResourceFault(
        kind=kind, created_at=now, expires_at=None if for_s is None else now + float(for_s)
    )
