"""Open the gateway's SQLite database (WAL) for one part of the gateway.

Each part (sessions, tasks, jobs) keeps its own connection and its own tables
in ``config.db_path``. The gateway runs one event loop, so queries are short
and run inline; ``busy_timeout`` covers another connection's write.

:class:`Database` wraps that connection for the ``store`` resource fault
(:mod:`.resfaults`): while the fault is active every query raises
:class:`~.resfaults.StoreUnavailable` and the connection is closed, as when a
database connection is lost; the first query after the fault reconnects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from loadkit.target.config import TargetConfig
from loadkit.target.resfaults import ResourceFaults, StoreUnavailable

__all__ = ["Database", "connect"]


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


class Database:
    """One part's connection, dropped while the store is faulted and reopened after."""

    def __init__(
        self, config: TargetConfig, schema: str, faults: ResourceFaults | None = None
    ) -> None:
        self.config = config
        self.schema = schema
        self.faults = faults or ResourceFaults()
        self._conn: sqlite3.Connection | None = connect(config, schema)

    def _connection(self) -> sqlite3.Connection:
        if self.faults.store_unavailable():
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise StoreUnavailable()
        if self._conn is None:
            self._conn = connect(self.config, self.schema)
            self.faults.reconnects += 1
        return self._conn

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self._connection().execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self._connection().executemany(sql, rows)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
