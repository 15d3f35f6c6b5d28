"""Open the gateway's SQLite database (WAL) for one part of the gateway.

Each part (sessions, tasks, jobs) keeps its own connection and its own tables
in ``config.db_path``. The gateway runs one event loop, so queries are short
and run inline; ``busy_timeout`` covers another connection's write.
"""

from __future__ import annotations

import sqlite3

from loadkit.target.config import TargetConfig

__all__ = ["connect"]


def connect(config: TargetConfig, schema: str) -> sqlite3.Connection:
    """A connection to the gateway database with ``schema`` (idempotent DDL) applied."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        config.db_path, isolation_level=None, check_same_thread=False, timeout=5.0
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(schema)
    return conn
