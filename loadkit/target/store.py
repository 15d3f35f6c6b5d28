"""The gateway's job table in SQLite (WAL): every state change is one transaction.

A job is committed before ``POST /execute`` answers 202, so a ``kill -9`` of
the gateway loses nothing it accepted. Claims hand out leases; a processing job
whose lease has expired (its agent died) goes back to ``queued`` on the next
claim. Results are applied once: a result for a job that is already terminal
only counts as a callback delivery, except that the partial output of an
interrupted job (what it printed before the agent stopped it) is kept.
Responses are written by :class:`~.outputs.Outputs` (primary store, or the
fallback folder while the disk is full).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from loadkit.target import outputs
from loadkit.target.config import TargetConfig
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.statedb import Database

__all__ = ["TERMINAL_STATES", "JobStore", "Output"]

TERMINAL_STATES = frozenset({"completed", "failed", "timeout", "interrupted"})

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS jobs (
    request_id TEXT PRIMARY KEY,
    workspace TEXT NOT NULL,
    command TEXT NOT NULL,
    timeout_ms INTEGER,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    queued_at REAL,
    processing_at REAL,
    completed_at REAL,
    error TEXT,
    lease_owner TEXT,
    lease_expires REAL,
    claims INTEGER NOT NULL DEFAULT 0,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    callback_success INTEGER NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_by_completion ON jobs(completed_at);
"""
    + outputs.SCHEMA
)

_STATUS_COLUMNS = (
    "request_id, workspace, command, state, created_at, queued_at, processing_at, "
    "completed_at, error, callback_attempts, callback_success, claims, deliveries"
)


class Doorbell:
    """Wakes claims that long-poll for work (``POST /internal/claim`` with ``wait_s``)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)


@dataclass(frozen=True)
class Output:
    """A job's answer for ``GET /responses``: its state, error and output (None if deleted)."""

    state: str
    error: str | None
    output: str | None


def _status(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "request_id": row["request_id"],
        "workspace": row["workspace"],
        "command": row["command"],
        "state": row["state"],
        "created_at": row["created_at"],
        "queued_at": row["queued_at"],
        "processing_at": row["processing_at"],
        "completed_at": row["completed_at"],
        "error": row["error"],
        "callback": {
            "attempts": row["callback_attempts"],
            "success": bool(row["callback_success"]),
        },
        "claims": row["claims"],
        "deliveries": row["deliveries"],
    }


class JobStore:
    """All job state of the gateway; used from its single event loop."""

    def __init__(self, config: TargetConfig, faults: ResourceFaults | None = None) -> None:
        self.lease_s = config.lease_s
        self.requeue_expired = not config.break_expired_leases_not_requeued
        self.doorbell = Doorbell()
        self.db = Database(config, SCHEMA, faults)
        self.outputs = outputs.Outputs(self.db, config.data_dir, self.db.faults)
        # The gateway was down: its agents could not heartbeat. Give them one lease to return.
        self.db.execute(
            "UPDATE jobs SET lease_expires = MAX(COALESCE(lease_expires, 0), ?) "
            "WHERE state = 'processing'",
            (time.time() + self.lease_s,),
        )

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- public API --------------------------------------------------------
    def submit(self, workspace: str, command: str, timeout_ms: int | None) -> dict[str, Any]:
        now = time.time()
        request_id = uuid.uuid4().hex
        self.db.execute(
            "INSERT INTO jobs (request_id, workspace, command, timeout_ms, state, created_at, "
            "queued_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            (request_id, workspace, command, timeout_ms, now, now),
        )
        self.doorbell.ring()
        return {"request_id": request_id, "workspace": workspace, "state": "queued"}

    def status(self, request_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT {_STATUS_COLUMNS} FROM jobs WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            return None
        return {**_status(row), "response_location": self.outputs.location(request_id)}

    def output(self, request_id: str) -> Output | None:
        row = self.db.execute(
            "SELECT state, error FROM jobs WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            return None
        return Output(row["state"], row["error"], self.outputs.read(request_id))

    def interrupt(self, request_id: str) -> str | None:
        """Mark a queued or processing job ``interrupted`` now; its agent stops it on heartbeat."""
        now = time.time()
        with self._transaction():
            row = self.db.execute(
                "SELECT state FROM jobs WHERE request_id = ?", (request_id,)
            ).fetchone()
            if row is None:
                return None
            if row["state"] in TERMINAL_STATES:
                return str(row["state"])
            self.db.execute(
                "UPDATE jobs SET state = 'interrupted', completed_at = ?, "
                "error = 'interrupted by request', lease_owner = NULL WHERE request_id = ?",
                (now, request_id),
            )
            self.outputs.write(request_id, "")
            return "interrupted"

    def cleanup(self, ttl_s: float, workspace: str | None = None) -> tuple[int, float]:
        """Delete the outputs of terminal jobs (of ``workspace``, or all) completed more
        than ``ttl_s`` ago. Returns how many, and the horizon: outputs of jobs completed
        before it went.
        """
        horizon = time.time() - ttl_s
        with self._transaction():
            return self.outputs.delete_completed_before(horizon, workspace), horizon

    def counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'processing') "
            "GROUP BY state"
        ).fetchall()
        found = {row["state"]: row["n"] for row in rows}
        return {"queued": found.get("queued", 0), "processing": found.get("processing", 0)}

    def queue_depth(self) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()
        return int(row[0])

    # -- agent API ---------------------------------------------------------
    def claim(self, agent_id: str, max_jobs: int) -> list[dict[str, Any]]:
        """Requeue expired leases, then lease up to ``max_jobs`` queued jobs to ``agent_id``."""
        now = time.time()
        with self._transaction():
            if self.requeue_expired:
                self.db.execute(
                    "UPDATE jobs SET state = 'queued', queued_at = ?, lease_owner = NULL "
                    "WHERE state = 'processing' AND lease_expires < ?",
                    (now, now),
                )
            rows = self.db.execute(
                "SELECT request_id, workspace, command, timeout_ms FROM jobs "
                "WHERE state = 'queued' ORDER BY rowid LIMIT ?",
                (max(0, max_jobs),),
            ).fetchall()
            self.db.executemany(
                "UPDATE jobs SET state = 'processing', processing_at = ?, lease_owner = ?, "
                "lease_expires = ?, claims = claims + 1 WHERE request_id = ?",
                [(now, agent_id, now + self.lease_s, row["request_id"]) for row in rows],
            )
        return [dict(row) for row in rows]

    def heartbeat(self, agent_id: str, held: list[str]) -> list[str]:
        """Extend the leases of ``held`` jobs; return those the agent should stop."""
        if not held:
            return []
        marks = ",".join("?" * len(held))
        self.db.execute(
            f"UPDATE jobs SET lease_expires = ?, lease_owner = ? "
            f"WHERE state = 'processing' AND request_id IN ({marks})",
            (time.time() + self.lease_s, agent_id, *held),
        )
        rows = self.db.execute(
            f"SELECT request_id FROM jobs WHERE request_id IN ({marks}) "
            f"AND state IN ('interrupted', 'timeout', 'completed', 'failed')",
            held,
        ).fetchall()
        return [row["request_id"] for row in rows]

    def release(self, agent_id: str, request_ids: list[str]) -> int:
        """Requeue jobs an agent gives back (it is shutting down); returns how many."""
        if not request_ids:
            return 0
        marks = ",".join("?" * len(request_ids))
        cursor = self.db.execute(
            f"UPDATE jobs SET state = 'queued', queued_at = ?, lease_owner = NULL "
            f"WHERE state = 'processing' AND lease_owner = ? AND request_id IN ({marks})",
            (time.time(), agent_id, *request_ids),
        )
        self.doorbell.ring()
        return cursor.rowcount

    def apply_result(
        self, request_id: str, state: str, output: str, error: str | None, attempts: int
    ) -> bool | None:
        """Apply a result once. None: unknown job; False: already terminal (a duplicate)."""
        now = time.time()
        with self._transaction():
            row = self.db.execute(
                "SELECT state FROM jobs WHERE request_id = ?", (request_id,)
            ).fetchone()
            if row is None:
                return None
            self.db.execute(
                "UPDATE jobs SET deliveries = deliveries + 1, callback_success = 1, "
                "callback_attempts = MAX(callback_attempts, ?) WHERE request_id = ?",
                (attempts, request_id),
            )
            if row["state"] in TERMINAL_STATES:
                if row["state"] == state == "interrupted" and output:
                    self._keep_partial_output(request_id, output)
                return False
            self.db.execute(
                "UPDATE jobs SET state = ?, error = ?, completed_at = ?, lease_owner = NULL "
                "WHERE request_id = ?",
                (state, error, now, request_id),
            )
            self.outputs.write(request_id, output)
            return True

    def _keep_partial_output(self, request_id: str, output: str) -> None:
        """An interrupted job's first non-empty output (what it printed before it stopped)."""
        if self.outputs.read(request_id) == "":
            self.outputs.write(request_id, output)
