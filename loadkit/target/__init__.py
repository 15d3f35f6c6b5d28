"""The reference target: a gateway (HTTP + WebSocket, SQLite) and an agent process.

Start it from Python with :func:`start_target` (a context manager returning a
:class:`RunningTarget`) or from the shell with ``loadkit target``. The API is
docs/target-api.md; clients check ``bytes N`` outputs with
:func:`deterministic_bytes`.

Modules: ``gateway`` (app + process), ``jobs`` / ``internal`` / ``store`` (job
routes, agent routes, SQLite), ``commands`` (the safe command language),
``agent`` / ``breaker`` / ``outbox`` / ``workspaces`` (the agent), ``launcher``
/ ``cli`` / ``serve`` / ``config`` (processes and settings), ``statedb`` /
``httpjson`` (shared SQLite and JSON-request helpers), ``sessions`` /
``messages`` / ``sessionqueues`` (sessions, their containers and in-order
message queues), ``tasks`` / ``taskstore`` / ``wshub`` (tasks sync and its
WebSocket fan-out), ``appfaults`` / ``resfaults`` (path faults; store and disk
faults), ``outputs`` (job responses, primary or fallback folder).
"""

from __future__ import annotations

from loadkit.target.commands import deterministic_bytes
from loadkit.target.launcher import RunningTarget, start_target

__all__ = ["RunningTarget", "deterministic_bytes", "start_target"]
