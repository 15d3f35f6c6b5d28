"""Versioned tasks per repo in SQLite, each write published to a :class:`~.wshub.Hub`.

Every write (create, update, each applied sync change) bumps the task's
``version`` and the repo's ``seq`` by one in the same SQLite transaction
(``BEGIN IMMEDIATE``), then publishes ``task.created`` / ``task.updated``.
Writes and publishing run on the gateway's single event loop with no ``await``
between commit and publish, so subscribers see each repo's ``seq`` in order
with no gaps. A stale ``base_version`` raises :class:`Conflict` (update) or is
reported as a ``server_wins`` conflict (sync). ``break_sync_event_dropped``
breaks the fan-out on purpose: the event of every 10th ``seq`` of a repo is
committed but never published.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from loadkit.target.config import TargetConfig
from loadkit.target.resfaults import ResourceFaults
from loadkit.target.statedb import Database
from loadkit.target.wshub import Hub

__all__ = ["UNSET", "Conflict", "Task", "TaskStore", "UnknownTask"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    repo TEXT NOT NULL,
    task_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    updated_by TEXT,
    meta TEXT NOT NULL,
    PRIMARY KEY (repo, task_id)
);
CREATE TABLE IF NOT EXISTS repo_seq (
    repo TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""

DEFAULT_STATUS = "open"
MAX_TITLE = 1000
MAX_STATUS = 64
MAX_CLIENT_ID = 256
SYNC_MAX_CHANGES = 1000  # default of TargetConfig.sync_max_changes
DROP_EVERY = 10  # break_sync_event_dropped: the event of every 10th seq is lost
UNSET: Any = object()  # a field absent from a change (None is a valid meta)

Task = dict[str, Any]


class Conflict(Exception):
    """A write's ``base_version`` is not the task's current version."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task['task_id']} is at version {task['version']}")
        self.task = task


class UnknownTask(Exception):
    """A sync change updates a task that does not exist (and has no title to create it)."""

    def __init__(self, repo: str, task_id: str | None) -> None:
        super().__init__(f"no task {task_id!r:.80} in repo {repo}")


class TaskStore:
    """Tasks and per-repo sequence numbers in SQLite; publishes each write to a :class:`Hub`."""

    def __init__(
        self,
        config: TargetConfig,
        hub: Hub,
        clock: Callable[[], float] = time.time,
        faults: ResourceFaults | None = None,
    ):
        self.config = config
        self.hub = hub
        self.clock = clock
        self.faults = faults
        self._conn: Database | None = None

    @property
    def conn(self) -> Database:
        if self._conn is None:
            self._conn = Database(self.config, SCHEMA, self.faults)
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[list[dict[str, Any]]]:
        """BEGIN IMMEDIATE … COMMIT; the events collected inside are published after commit."""
        events: list[dict[str, Any]] = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield events
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        published_at = self.clock()
        for event in events:
            if self.config.break_sync_event_dropped and event["seq"] % DROP_EVERY == 0:
                continue
            event["published_at"] = published_at
            self.hub.publish(event)

    # -- reads ---------------------------------------------------------------

    def get(self, repo: str, task_id: str) -> Task | None:
        row = self.conn.execute(
            "SELECT * FROM tasks WHERE repo = ? AND task_id = ?", (repo, task_id)
        ).fetchone()
        return None if row is None else _task(row)

    def in_repo(self, repo: str) -> list[Task]:
        rows = self.conn.execute(
            "SELECT * FROM tasks WHERE repo = ? ORDER BY created_at, task_id", (repo,)
        )
        return [_task(row) for row in rows]

    def seq(self, repo: str) -> int:
        row = self.conn.execute("SELECT seq FROM repo_seq WHERE repo = ?", (repo,)).fetchone()
        return 0 if row is None else int(row["seq"])

    # -- writes --------------------------------------------------------------

    def create(
        self,
        repo: str,
        title: str,
        status: str | None = None,
        client_id: str | None = None,
        meta: Any = None,
        task_id: str | None = None,
    ) -> Task:
        with self._transaction() as events:
            return self._insert(events, repo, task_id, title, status, client_id, meta)

    def update(
        self,
        repo: str,
        task_id: str,
        *,
        title: str | None = None,
        status: str | None = None,
        meta: Any = UNSET,
        base_version: int | None = None,
        client_id: str | None = None,
    ) -> Task | None:
        """The updated task; None when unknown; :class:`Conflict` when ``base_version`` is stale."""
        with self._transaction() as events:
            current = self.get(repo, task_id)
            if current is None:
                return None
            if base_version is not None and base_version != current["version"]:
                raise Conflict(current)
            return self._update(events, current, title, status, meta, client_id)

    def sync(
        self, repo: str, client_id: str | None, changes: list[dict[str, Any]]
    ) -> tuple[list[Task], list[dict[str, Any]]]:
        """Apply ``changes`` in order (already validated); returns (applied, conflicts)."""
        applied: list[Task] = []
        conflicts: list[dict[str, Any]] = []
        with self._transaction() as events:
            for change in changes:
                task_id = change.get("task_id")
                current = None if task_id is None else self.get(repo, task_id)
                if current is None:
                    title = change.get("title")
                    if title is None:
                        raise UnknownTask(repo, task_id)
                    meta = change.get("meta", UNSET)
                    task = self._insert(
                        events,
                        repo,
                        task_id,
                        title,
                        change.get("status"),
                        client_id,
                        None if meta is UNSET else meta,
                    )
                    applied.append(task)
                    continue
                base_version = change.get("base_version")
                if base_version is not None and base_version != current["version"]:
                    conflicts.append(
                        {"task_id": task_id, "resolution": "server_wins", "server": current}
                    )
                    continue
                applied.append(
                    self._update(
                        events,
                        current,
                        change.get("title"),
                        change.get("status"),
                        change.get("meta", UNSET),
                        client_id,
                    )
                )
        return applied, conflicts

    def _next_seq(self, repo: str) -> int:
        row = self.conn.execute(
            "INSERT INTO repo_seq (repo, seq) VALUES (?, 1) "
            "ON CONFLICT (repo) DO UPDATE SET seq = seq + 1 RETURNING seq",
            (repo,),
        ).fetchone()
        return int(row[0])

    def _insert(
        self,
        events: list[dict[str, Any]],
        repo: str,
        task_id: str | None,
        title: str,
        status: str | None,
        client_id: str | None,
        meta: Any,
    ) -> Task:
        now = self.clock()
        task: Task = {
            "task_id": task_id or uuid.uuid4().hex,
            "repo": repo,
            "title": title,
            "status": status or DEFAULT_STATUS,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "updated_by": client_id,
            "meta": meta,
        }
        self.conn.execute(
            "INSERT INTO tasks (repo, task_id, title, status, version, created_at, updated_at,"
            " updated_by, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                repo,
                task["task_id"],
                title,
                task["status"],
                1,
                now,
                now,
                client_id,
                json.dumps(meta),
            ),
        )
        events.append(_event("task.created", repo, self._next_seq(repo), task))
        return task

    def _update(
        self,
        events: list[dict[str, Any]],
        current: Task,
        title: str | None,
        status: str | None,
        meta: Any,
        client_id: str | None,
    ) -> Task:
        task = dict(current)
        task["title"] = current["title"] if title is None else title
        task["status"] = current["status"] if status is None else status
        if meta is not UNSET:
            task["meta"] = meta
        task["version"] = current["version"] + 1
        task["updated_at"] = self.clock()
        task["updated_by"] = client_id
        self.conn.execute(
            "UPDATE tasks SET title = ?, status = ?, version = ?, updated_at = ?,"
            " updated_by = ?, meta = ? WHERE repo = ? AND task_id = ?",
            (
                task["title"],
                task["status"],
                task["version"],
                task["updated_at"],
                client_id,
                json.dumps(task["meta"]),
                task["repo"],
                task["task_id"],
            ),
        )
        events.append(_event("task.updated", task["repo"], self._next_seq(task["repo"]), task))
        return task


def _event(kind: str, repo: str, seq: int, task: Task) -> dict[str, Any]:
    return {"type": kind, "repo": repo, "seq": seq, "task": task}


def _task(row: sqlite3.Row) -> Task:
    return {
        "task_id": row["task_id"],
        "repo": row["repo"],
        "title": row["title"],
        "status": row["status"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
        "meta": json.loads(row["meta"]),
    }
