"""``events.jsonl``: the run's timeline, one JSON object per line, flushed per line.

Written through :class:`~loadkit.rundir.jsonl.JsonLines`: each line whole,
under a real OS lock, flushed, so a hard kill leaves at most one torn last
line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadkit.rundir.jsonl import JsonLines

__all__ = ["EventLog", "read_events"]


class EventLog:
    """``events.jsonl``: each record carries its time ``t`` and its ``type``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines = JsonLines(path)

    def append(self, type_: str, fields: dict[str, Any], t: float | None = None) -> None:
        record: dict[str, Any] = {"t": time.time() if t is None else t, "type": type_}
        record.update(fields)
        self._lines.append(record)

    def close(self) -> None:
        self._lines.close()


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
