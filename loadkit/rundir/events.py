"""``events.jsonl``: the run's timeline, one JSON object per line, flushed per line.

Safe from several greenlets and OS threads: each line is written whole under a
lock and flushed, so a hard kill leaves at most one torn last line. The lock is
a real OS lock even under gevent's monkey patching (a patched lock must not be
taken from a threadpool thread); nothing inside it can switch greenlets.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["EventLog", "read_events"]


def _os_lock() -> Any:
    try:
        from gevent.monkey import get_original

        return get_original("threading", "Lock")()
    except ImportError:  # pragma: no cover - gevent always comes with Locust
        return threading.Lock()


class EventLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _os_lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def append(self, type_: str, fields: dict[str, Any], t: float | None = None) -> None:
        record: dict[str, Any] = {"t": time.time() if t is None else t, "type": type_}
        record.update(fields)
        line = json.dumps(record, default=str, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is None:
                return
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_events(path: Path | str) -> Iterator[dict[str, Any]]:
    """The events of ``path``; a torn or garbled line is skipped."""
    with Path(path).open(encoding="utf-8", errors="replace") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
