"""Recording the work a service accepted: ``<run-dir>/accepted.jsonl``, as it happens.

User classes call :func:`accepted` once the service has accepted a piece of
work (a job id after ``202``, a write with its version, a session id)::

    from loadkit.audit import accepted
    accepted(self.environment, "jobs", request_id, workspace=self.workspace)

On the local runner or the master each call appends one flushed line, so the
file survives a killed run::

    {"t": 1795000001.25, "kind": "jobs", "id": "3f2a...", "workspace": "lk-1"}

Work made through an adapter (``api=self.api``) records its name (``builtin``
or the adapter's class) and, for a YAML profile's adapter, the profile's
reference (``"profile": "camel-gateway"``): the audit asks through that profile.

On a worker the call is sent to the master (a ``loadkit_accepted`` message),
which writes it. Without the loadkit plugin (or before the first test start)
the call does nothing. After the load, :mod:`loadkit.audit.audit` asks the
service what became of every item.
"""

from __future__ import annotations

import logging
import time
import weakref
from pathlib import Path
from typing import Any

from loadkit.rundir.jsonl import JsonLines, read_jsonl
from loadkit.rundir.layout import ACCEPTED_JSONL

__all__ = [
    "ACCEPTED_FILE",
    "MESSAGE_TYPE",
    "AcceptedLog",
    "accepted",
    "read_accepted",
    "register_log",
]

log = logging.getLogger(__name__)

ACCEPTED_FILE = ACCEPTED_JSONL
MESSAGE_TYPE = "loadkit_accepted"
_RESERVED = frozenset({"t", "kind", "id"})
BUILTIN_API = "builtin"
_BUILTIN_MODULES = ("loadkit.users.profile.builtin", "loadkit.users.profile.builtin_sync")


def api_name(api: Any) -> str:
    """``builtin`` for the built-in target's adapters, else the adapter's class name."""
    if isinstance(api, str):
        return api
    cls = type(api)
    return BUILTIN_API if cls.__module__ in _BUILTIN_MODULES else cls.__qualname__


_logs: weakref.WeakKeyDictionary[Any, AcceptedLog] = weakref.WeakKeyDictionary()


def accepted(environment: Any, kind: str, item_id: Any, **attrs: Any) -> None:
    """Record that the service accepted ``item_id`` of ``kind`` (jobs, sessions, sync...)."""
    log_ = _logs.get(environment)
    if log_ is not None:
        log_.record(kind, item_id, attrs)


def register_log(environment: Any, log_: AcceptedLog) -> AcceptedLog:
    """Make ``log_`` where :func:`accepted` writes for ``environment`` (the plugin does)."""
    _logs[environment] = log_
    return log_


class AcceptedLog:
    """Where :func:`accepted` goes: the run dir's file, or (on a worker) the master."""

    def __init__(self, send: Any = None) -> None:
        self._send = send  # worker: runner.send_message
        self._out: JsonLines | None = None
        self.count = 0

    def open(self, run_dir: Path) -> None:
        self.close()
        self._out = JsonLines(run_dir / ACCEPTED_FILE)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def record(self, kind: str, item_id: Any, attrs: dict[str, Any]) -> None:
        item = {k: v for k, v in attrs.items() if k not in _RESERVED}
        if "api" in item:  # the adapter that made the call: the audit must speak it too
            adapter = item["api"]
            item["api"] = api_name(adapter)
            reference = getattr(adapter, "profile_reference", None)
            if isinstance(reference, str) and reference:
                item["profile"] = reference  # the YAML profile it was read from
        item.update(t=time.time(), kind=str(kind), id=str(item_id))
        if self._send is not None:
            try:
                self._send(MESSAGE_TYPE, [item])
            except Exception as exc:  # the master is gone: the item cannot be audited
                log.warning("loadkit: could not send accepted %s %s: %s", kind, item_id, exc)
            return
        self.write([item])

    def write(self, items: list[Any]) -> None:
        if self._out is None:
            return
        for item in items:
            if isinstance(item, dict) and "kind" in item and "id" in item:
                self._out.append(item)
                self.count += 1


def read_accepted(run_dir: Path) -> list[dict[str, Any]]:
    """The accepted items of a run in order, one per (kind, id).

    A later record of the same item adds to it (e.g. ``closed=True`` once the
    client deleted a session); its ``t`` stays the first one.
    """
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for record in read_jsonl(run_dir / ACCEPTED_FILE):
        kind, item_id, t = record.get("kind"), record.get("id"), record.get("t")
        if not isinstance(kind, str) or not isinstance(item_id, str):
            continue
        if not isinstance(t, int | float) or isinstance(t, bool):
            continue
        first = seen.setdefault((kind, item_id), record)
        if first is not record:
            first.update({k: v for k, v in record.items() if k not in _RESERVED})
    return list(seen.values())
