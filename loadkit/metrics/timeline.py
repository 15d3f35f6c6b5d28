"""Timeline events polled once per interval: stage changes, user counts, worker health.

:class:`TimelineWatcher.poll` compares what the runner and the load shape say
now with what it saw last time and writes an event for each change, so each
kind of event is written at most once per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from loadkit.rundir.layout import EventType

__all__ = ["TimelineWatcher", "stage_fields"]

log = logging.getLogger(__name__)

EventSink = Callable[..., None]

STAGE_FIELDS = ("index", "name", "users", "spawn_rate", "duration_s")


def stage_fields(stage: Any) -> dict[str, Any] | None:
    """A shape's ``current_stage()`` answer (mapping or object) → the ``stage`` event fields."""
    if stage is None:
        return None
    if isinstance(stage, dict):
        source: dict[str, Any] = stage
    else:
        source = {name: getattr(stage, name) for name in STAGE_FIELDS if hasattr(stage, name)}
    fields = {name: source.get(name) for name in STAGE_FIELDS}
    if fields["name"] is None:
        del fields["name"]
    return fields


class TimelineWatcher:
    def __init__(self, environment: Any, emit: EventSink) -> None:
        self.environment = environment
        self.emit = emit
        self._users: tuple[int, dict[str, int]] | None = None
        self._stage: dict[str, Any] | None = None
        self._missing: set[str] = set()
        self._workers: set[str] = set()
        self._stage_error_logged = False

    def poll(self) -> None:
        self.poll_users()
        self.poll_stage()
        self.poll_workers()

    def poll_users(self) -> None:
        runner = self.environment.runner
        if runner is None:
            return
        classes = getattr(runner, "reported_user_classes_count", None)
        if classes is None:
            classes = runner.user_classes_count
        classes = {name: n for name, n in dict(classes).items() if n}
        now = (sum(classes.values()), classes)
        if now != self._users:
            self._users = now
            self.emit(EventType.USERS, count=now[0], classes=now[1])

    def poll_stage(self) -> None:
        shape = self.environment.shape_class
        current_stage = getattr(shape, "current_stage", None)
        if not callable(current_stage):
            return
        try:
            fields = stage_fields(current_stage())
        except Exception as exc:  # a shape bug must not stop the metrics
            if not self._stage_error_logged:
                self._stage_error_logged = True
                log.warning("loadkit: %s.current_stage() failed: %s", type(shape).__name__, exc)
            return
        if fields is not None and fields != self._stage:
            self._stage = fields
            self.emit(EventType.STAGE, **fields)

    def poll_workers(self) -> None:
        clients = getattr(self.environment.runner, "clients", None)
        if clients is None:
            return
        present = {node.id: node.state for node in list(clients.values())}
        for worker, state in present.items():
            if state == "missing" and worker not in self._missing:
                self._missing.add(worker)
                self.emit(EventType.WORKER_MISSING, worker=worker)
            elif state != "missing":
                self._missing.discard(worker)
        for worker in self._workers - present.keys():
            if worker not in self._missing:
                self.emit(EventType.WORKER_QUIT, worker=worker)
            self._missing.discard(worker)
        self._workers = set(present)

    def worker_joined(self, worker: str) -> None:
        self._workers.add(worker)
        self.emit(EventType.WORKER_JOIN, worker=worker)
