"""Interactive sessions on simulated containers: cold and warm starts, idling, expiry.

A session is ``starting`` until its container is up: a *cold* start takes
``cold_start_ms``; a *warm* start (``warm_start_ms``) happens when the same
user+project already has a live (not expired, not deleted) session. Then it is
``ready``; ``idle`` after ``idle_after_s`` without activity; ``expired``
``expire_after_s`` later. Nothing runs in the background: each state is
computed from the stored timestamps when asked.

Each session names its container (``container_id``): a warm start joins the
live container of its user+project, a cold start creates a new one. So the
same user and project share a container, and a different user or project never
does. Messages sent to a session run in its container (:mod:`.sessionqueues`).

Rows live in the gateway's SQLite file (table ``sessions``), so sessions
survive a gateway restart. Extensions: ``GET /sessions/{id}?wait_ready_s=N``
waits (up to N seconds) until the session is ready before answering;
``GET /sessions?client_id=C`` lists a client's sessions (what a client left
open is visible from outside); ``--session-activation-rate`` limits activations
per client (429, :mod:`.ratelimit`).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from loadkit.target.config import TargetConfig
from loadkit.target.httpjson import ApiError, json_endpoint, read_json_object, require_str
from loadkit.target.ratelimit import ActivationLimit
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.statedb import Database

__all__ = ["STATES", "Session", "SessionStore", "routes"]

STATES = ("starting", "ready", "idle", "expired")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project TEXT NOT NULL,
    warm INTEGER NOT NULL,
    created_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    last_active_at REAL NOT NULL,
    container_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_by_container ON sessions (user_id, project);
CREATE INDEX IF NOT EXISTS sessions_by_activity ON sessions (last_active_at);
CREATE INDEX IF NOT EXISTS sessions_by_client ON sessions (client_id);
"""

# Expired sessions are kept this long (for GET) before they are purged.
PURGE_AFTER_S = 3600.0
# Longest long-poll of GET /sessions/{id}?wait_ready_s=N.
MAX_WAIT_READY_S = 60.0
# Most sessions one GET /sessions answers with (and its default).
MAX_LIST = 1000


@dataclass(frozen=True)
class Session:
    session_id: str
    client_id: str
    user_id: str
    project: str
    warm: bool
    created_at: float
    ready_at: float  # when the container is (or will be) up
    last_active_at: float
    container_id: str = ""

    def state(self, now: float, idle_after_s: float, expire_after_s: float) -> str:
        if now < self.ready_at:
            return "starting"
        idle_at = max(self.ready_at, self.last_active_at) + idle_after_s
        if now < idle_at:
            return "ready"
        if now < idle_at + expire_after_s:
            return "idle"
        return "expired"

    def as_json(self, now: float, idle_after_s: float, expire_after_s: float) -> dict[str, Any]:
        state = self.state(now, idle_after_s, expire_after_s)
        return {
            "session_id": self.session_id,
            "container_id": self.container_id,
            "client_id": self.client_id,
            "user_id": self.user_id,
            "project": self.project,
            "state": state,
            "warm": self.warm,
            "created_at": self.created_at,
            "ready_at": None if state == "starting" else self.ready_at,
            "last_active_at": self.last_active_at,
        }


class SessionStore:
    """Sessions in SQLite; every state is derived from timestamps at read time."""

    def __init__(
        self,
        config: TargetConfig,
        clock: Callable[[], float] = time.time,
        faults: ResourceFaults | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.faults = faults
        self._conn: Database | None = None
        self._creates = 0

    @property
    def conn(self) -> Database:
        if self._conn is None:
            self._conn = Database(self.config, SCHEMA, self.faults)
            columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(sessions)")}
            if "container_id" not in columns:  # a data dir from before containers had ids
                self._conn.execute(
                    "ALTER TABLE sessions ADD COLUMN container_id TEXT NOT NULL DEFAULT ''"
                )
            if self.config.break_sessions_forgotten_on_restart:  # broken on purpose
                self._conn.execute("DELETE FROM sessions")
        return self._conn

    def _state(self, session: Session, now: float) -> str:
        return session.state(now, self.config.idle_after_s, self.config.expire_after_s)

    def to_json(self, session: Session) -> dict[str, Any]:
        return session.as_json(self.clock(), self.config.idle_after_s, self.config.expire_after_s)

    def create(self, client_id: str, user_id: str, project: str) -> Session:
        """Start a session: warm if the user+project has a live container, else cold."""
        now = self.clock()
        live = self._live_container(user_id, project, now)
        warm = live is not None
        if live is not None:
            # A container still booting is shared: ready no earlier than it is.
            live_ready_at, container_id = live
            ready_at = max(now + self.config.warm_start_ms / 1000.0, live_ready_at)
        else:
            ready_at = now + self.config.cold_start_ms / 1000.0
            container_id = "ctr-" + uuid.uuid4().hex[:16]
        session = Session(
            session_id=uuid.uuid4().hex,
            client_id=client_id,
            user_id=user_id,
            project=project,
            warm=warm,
            created_at=now,
            ready_at=ready_at,
            last_active_at=now,
            container_id=container_id,
        )
        self.conn.execute(
            "INSERT INTO sessions (session_id, client_id, user_id, project, warm, created_at,"
            " ready_at, last_active_at, container_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.session_id,
                client_id,
                user_id,
                project,
                int(warm),
                now,
                ready_at,
                now,
                container_id,
            ),
        )
        self._creates += 1
        if self._creates % 1000 == 1:
            self.purge_expired(now)
        return session

    def _live_container(self, user_id: str, project: str, now: float) -> tuple[float, str] | None:
        """(ready_at, container_id) of the user+project's live container; None when none."""
        expired_before = now - self.config.idle_after_s - self.config.expire_after_s
        row = self.conn.execute(
            "SELECT ready_at, container_id FROM sessions WHERE user_id = ? AND project = ?"
            " AND MAX(ready_at, last_active_at) > ? ORDER BY ready_at LIMIT 1",
            (user_id, project, expired_before),
        ).fetchone()
        return None if row is None else (float(row[0]), str(row[1]))

    def get(self, session_id: str) -> Session | None:
        row = self.conn.execute(
            "SELECT * FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return None if row is None else _from_row(row)

    def touch(self, session_id: str) -> Session:
        """Record activity; :class:`ApiError` 404 unknown, 409 expired."""
        session = self.get(session_id)
        if session is None:
            raise ApiError(404, f"no session {session_id!r:.80}", "session_id")
        now = self.clock()
        if self._state(session, now) == "expired":
            raise ApiError(
                409,
                f"session {session_id} has expired; start a new one with POST /sessions",
                "session_id",
                extra={"session": self.to_json(session)},
            )
        self.conn.execute(
            "UPDATE sessions SET last_active_at = ? WHERE session_id = ?", (now, session_id)
        )
        return Session(**{**session.__dict__, "last_active_at": now})

    def listing(self, client_id: str | None, limit: int) -> list[Session]:
        """Stored sessions (of ``client_id``, or all), oldest first, at most ``limit``."""
        where, params = ("WHERE client_id = ?", [client_id]) if client_id is not None else ("", [])
        rows = self.conn.execute(
            f"SELECT * FROM sessions {where} ORDER BY created_at LIMIT ?", (*params, limit)
        )
        return [_from_row(row) for row in rows]

    def delete(self, session_id: str) -> bool:
        cursor = self.conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        return cursor.rowcount > 0

    def counts(self) -> dict[str, int]:
        """Number of stored sessions in each state (for health and tests)."""
        now = self.clock()
        counts = dict.fromkeys(STATES, 0)
        for row in self.conn.execute("SELECT * FROM sessions"):
            counts[self._state(_from_row(row), now)] += 1
        return counts

    def purge_expired(self, now: float) -> int:
        """Delete sessions expired more than ``PURGE_AFTER_S`` ago."""
        horizon = now - self.config.idle_after_s - self.config.expire_after_s - PURGE_AFTER_S
        cursor = self.conn.execute(
            "DELETE FROM sessions WHERE MAX(ready_at, last_active_at) < ?", (horizon,)
        )
        return cursor.rowcount


def _from_row(row: sqlite3.Row) -> Session:
    return Session(
        session_id=row["session_id"],
        client_id=row["client_id"],
        user_id=row["user_id"],
        project=row["project"],
        warm=bool(row["warm"]),
        created_at=row["created_at"],
        ready_at=row["ready_at"],
        last_active_at=row["last_active_at"],
        container_id=row["container_id"],
    )


def _wait_ready_s(request: Request) -> float:
    raw = request.query_params.get("wait_ready_s")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= MAX_WAIT_READY_S:
        raise ApiError(
            400,
            f"'wait_ready_s' must be a number of seconds 0..{MAX_WAIT_READY_S:g}",
            "wait_ready_s",
        )
    return value


def _list_limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(MAX_LIST))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise ApiError(400, f"'limit' must be a whole number 1..{MAX_LIST}", "limit")
    return int(raw)


def routes(
    config: TargetConfig,
    store: SessionStore | None = None,
    on_delete: Callable[[str], None] | None = None,
) -> list[BaseRoute]:
    """``/sessions`` routes (see docs/target-api.md, Sessions).

    ``on_delete(session_id)`` runs after a session is deleted (its message queue goes too).
    """
    sessions = store or SessionStore(config)
    limit = ActivationLimit(config.session_activation_rate, config.session_activation_burst)

    @json_endpoint
    async def create_session(request: Request) -> Response:
        data = await read_json_object(request, config.max_body_bytes)
        client_id = require_str(data, "client_id")
        user_id = require_str(data, "user_id")
        project = require_str(data, "project")
        wait_s = limit.take(client_id)
        if wait_s > 0:
            raise ApiError(
                429,
                f"client {client_id!r:.80} is over its activation limit ({limit.burst} at"
                f" once, then {config.session_activation_rate:g}/s); retry later",
                "client_id",
                headers={"Retry-After": limit.retry_after(wait_s)},
            )
        session = sessions.create(client_id, user_id, project)
        body = {
            "session_id": session.session_id,
            "state": "starting",
            "warm": session.warm,
            "container_id": session.container_id,
        }
        return JSONResponse(body, status_code=201)

    @json_endpoint
    async def list_sessions(request: Request) -> Response:
        client_id = request.query_params.get("client_id")
        if client_id is not None and not client_id:
            raise ApiError(400, "'client_id' must not be empty", "client_id")
        found = sessions.listing(client_id, _list_limit(request))
        return JSONResponse({"sessions": [sessions.to_json(session) for session in found]})

    @json_endpoint
    async def get_session(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        session = sessions.get(session_id)
        if session is None:
            raise ApiError(404, f"no session {session_id!r:.80}", "session_id")
        wait_s = _wait_ready_s(request)
        if wait_s > 0:
            # Long-poll: answer once the container is up (or the wait is over), so a
            # client measures time-to-ready exactly instead of to a polling interval.
            deadline = sessions.clock() + wait_s
            while (delay := min(session.ready_at, deadline) - sessions.clock()) > 0:
                await asyncio.sleep(delay + 0.001)  # the loop's timer may fire a bit early
        return JSONResponse(sessions.to_json(session))

    @json_endpoint
    async def session_activity(request: Request) -> Response:
        session = sessions.touch(request.path_params["session_id"])
        return JSONResponse(sessions.to_json(session))

    @json_endpoint
    async def delete_session(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        if not sessions.delete(session_id):
            raise ApiError(404, f"no session {session_id!r:.80}", "session_id")
        if on_delete is not None:
            on_delete(session_id)
        return JSONResponse({"session_id": session_id, "deleted": True})

    return [
        Route("/sessions", create_session, methods=["POST"]),
        Route("/sessions", list_sessions, methods=["GET"]),
        Route("/sessions/{session_id}", get_session, methods=["GET"]),
        Route("/sessions/{session_id}", delete_session, methods=["DELETE"]),
        Route("/sessions/{session_id}/activity", session_activity, methods=["POST"]),
    ]
