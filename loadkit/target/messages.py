"""Messages of sessions in SQLite: each session's queue, in arrival order.

A message is a command of the safe language (:mod:`.commands`) sent to a
session. It gets the next ``seq`` of its session when it arrives and
``run_index`` (1, 2, …) when the session starts running it, so a client sees
the processing order: in order means ``run_index == seq`` for every message
that ran. States: ``queued → processing → completed | failed | interrupted``.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from loadkit.target.config import TargetConfig
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.statedb import Database

__all__ = ["MESSAGE_STATES", "TERMINAL", "MessageStore"]

MESSAGE_STATES = ("queued", "processing", "completed", "failed", "interrupted")
TERMINAL = frozenset({"completed", "failed", "interrupted"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS session_messages (
    message_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    command TEXT NOT NULL,
    state TEXT NOT NULL,
    output TEXT NOT NULL DEFAULT '',
    error TEXT,
    run_index INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    completed_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_session ON session_messages (session_id, seq);
"""


def _message(row: sqlite3.Row) -> dict[str, Any]:
    return {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row)


class MessageStore:
    """Session messages; used from the gateway's single event loop."""

    def __init__(
        self,
        config: TargetConfig,
        faults: ResourceFaults | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = Database(config, SCHEMA, faults)
        self.clock = clock

    def add(self, session_id: str, command: str) -> dict[str, Any]:
        """Queue ``command`` as the session's next message."""
        row = self.db.execute(
            "INSERT INTO session_messages (message_id, session_id, seq, command, state,"
            " created_at) VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM session_messages"
            " WHERE session_id = ?), ?, 'queued', ?) RETURNING *",
            (uuid.uuid4().hex, session_id, session_id, command, self.clock()),
        ).fetchone()
        return _message(row)

    def get(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT * FROM session_messages WHERE session_id = ? AND message_id = ?",
            (session_id, message_id),
        ).fetchone()
        return None if row is None else _message(row)

    def in_session(self, session_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM session_messages WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        return [_message(row) for row in rows]

    def queued(self, session_id: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM session_messages WHERE session_id = ? AND state = 'queued'",
            (session_id,),
        ).fetchone()
        return int(row[0])

    def start_next(self, session_id: str, newest_first: bool = False) -> dict[str, Any] | None:
        """Mark the session's next queued message ``processing`` (oldest first) and return it."""
        order = "DESC" if newest_first else "ASC"
        row = self.db.execute(
            f"SELECT message_id FROM session_messages WHERE session_id = ? AND state = 'queued'"
            f" ORDER BY seq {order} LIMIT 1",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        started = self.db.execute(
            "UPDATE session_messages SET state = 'processing', started_at = ?, run_index ="
            " (SELECT COALESCE(MAX(run_index), 0) + 1 FROM session_messages WHERE session_id = ?)"
            " WHERE message_id = ? RETURNING *",
            (self.clock(), session_id, row["message_id"]),
        ).fetchone()
        return _message(started)

    def finish(self, message_id: str, state: str, output: str, error: str | None) -> bool:
        """Record the end of a message that is not terminal yet; False when it already was."""
        cursor = self.db.execute(
            "UPDATE session_messages SET state = ?, output = ?, error = ?, completed_at = ?"
            " WHERE message_id = ? AND state IN ('queued', 'processing')",
            (state, output, error, self.clock(), message_id),
        )
        return cursor.rowcount > 0

    def requeue_unfinished(self) -> list[str]:
        """After a restart: messages that were running go back to the queue (they run again).

        Returns the sessions that have queued messages.
        """
        self.db.execute(
            "UPDATE session_messages SET state = 'queued', started_at = NULL, run_index = NULL"
            " WHERE state = 'processing'"
        )
        rows = self.db.execute(
            "SELECT DISTINCT session_id FROM session_messages WHERE state = 'queued'"
        ).fetchall()
        return [row["session_id"] for row in rows]

    def drop_session(self, session_id: str) -> int:
        cursor = self.db.execute("DELETE FROM session_messages WHERE session_id = ?", (session_id,))
        return cursor.rowcount
