"""Job responses: in the gateway's SQLite store, or in a fallback folder when the disk is full.

A response is written to the ``job_outputs`` table (the primary store). While
the ``disk`` resource fault is active (:mod:`.resfaults`) that write fails as
with ``ENOSPC`` and the response goes to ``<data-dir>/fallback/<id>.json``
instead; the table ``fallback_outputs`` remembers which responses live there,
so reads and cleanup find them wherever they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loadkit.target.resfaults import ResourceFaults
from loadkit.target.statedb import Database

__all__ = ["FALLBACK_DIR", "SCHEMA", "Outputs"]

FALLBACK_DIR = "fallback"
PRIMARY, FALLBACK = "primary", "fallback"

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_outputs (
    request_id TEXT PRIMARY KEY,
    output TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fallback_outputs (
    request_id TEXT PRIMARY KEY
);
"""


class Outputs:
    """Where each job's response is, and its text; runs inside the caller's transaction."""

    def __init__(self, db: Database, data_dir: Path, faults: ResourceFaults) -> None:
        self.db = db
        self.folder = data_dir / FALLBACK_DIR
        self.faults = faults

    def _path(self, request_id: str) -> Path:
        if not request_id.isalnum():
            raise ValueError(f"bad request id {request_id!r:.80}")
        return self.folder / f"{request_id}.json"

    def write(self, request_id: str, output: str) -> str:
        """Store ``output``; returns its location, ``primary`` or ``fallback``."""
        if not self.faults.disk_full():
            self.db.execute(
                "INSERT OR REPLACE INTO job_outputs (request_id, output) VALUES (?, ?)",
                (request_id, output),
            )
            self.db.execute("DELETE FROM fallback_outputs WHERE request_id = ?", (request_id,))
            return PRIMARY
        path = self._path(request_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"output": output}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        self.db.execute(
            "INSERT OR REPLACE INTO fallback_outputs (request_id) VALUES (?)", (request_id,)
        )
        self.db.execute("DELETE FROM job_outputs WHERE request_id = ?", (request_id,))
        self.faults.record_fallback()
        return FALLBACK

    def location(self, request_id: str) -> str | None:
        """``primary``, ``fallback``, or None (no response yet, or deleted by cleanup)."""
        if self.db.execute(
            "SELECT 1 FROM fallback_outputs WHERE request_id = ?", (request_id,)
        ).fetchone():
            return FALLBACK
        row = self.db.execute(
            "SELECT 1 FROM job_outputs WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else PRIMARY

    def read(self, request_id: str) -> str | None:
        row = self.db.execute(
            "SELECT output FROM job_outputs WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is not None:
            return str(row["output"])
        if self.location(request_id) != FALLBACK:
            return None
        try:
            data = json.loads(self._path(request_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return str(data.get("output", "")) if isinstance(data, dict) else None

    def delete_completed_before(self, horizon: float, workspace: str | None = None) -> int:
        """Delete the responses of jobs (of ``workspace``, or all) completed before
        ``horizon``; returns how many."""
        old = "SELECT request_id FROM jobs WHERE completed_at < ?"
        params: tuple[Any, ...] = (horizon,)
        if workspace is not None:
            old += " AND workspace = ?"
            params = (horizon, workspace)
        cursor = self.db.execute(f"DELETE FROM job_outputs WHERE request_id IN ({old})", params)
        deleted = cursor.rowcount
        rows = self.db.execute(
            f"SELECT request_id FROM fallback_outputs WHERE request_id IN ({old})", params
        ).fetchall()
        for row in rows:
            self._path(row["request_id"]).unlink(missing_ok=True)
        self.db.execute(f"DELETE FROM fallback_outputs WHERE request_id IN ({old})", params)
        return deleted + len(rows)
