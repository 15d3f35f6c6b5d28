"""Append-only JSON-lines files of the run dir (probe samples, accepted work, audit items).

Each record is written whole and flushed under a real OS lock (safe from
greenlets and threadpool threads), so a hard kill leaves at most one torn last
line; :func:`read_jsonl` skips a torn or garbled line and anything that is not
a JSON object.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["JsonLines", "read_jsonl"]


def _os_lock() -> Any:
    try:
        from gevent.monkey import get_original

        return get_original("threading", "Lock")()
    except ImportError:  # pragma: no cover - gevent always comes with Locust
        return threading.Lock()


class JsonLines:
    """An open JSON-lines file; :meth:`append` writes one flushed line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _os_lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
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


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def read_jsonl(path: Path, skipped: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """The objects of ``path`` (none when it is missing); bad lines are skipped (their
    1-based numbers appended to ``skipped`` when given)."""
    try:
        file = path.open(encoding="utf-8", errors="replace")
    except OSError:
        return
    with file:
        for number, line in enumerate(file, 1):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                record = None
            if isinstance(record, dict) and _finite(record.get("t", 0.0)):
                yield record
            elif skipped is not None and line.strip():
                skipped.append(number)
