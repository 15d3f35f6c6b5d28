"""Follow a run while it goes: find its run directory, print its stage and fault events.

Locust prints its own stats table; this adds one ``loadkit:`` line per event
that matters to a person watching (a new stage, a fault injected or reverted,
a worker lost), read from the run directory's ``events.jsonl`` (see
docs/run-dir.md) in a background thread.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from loadkit.rundir.layout import EVENTS_JSONL, RUN_JSON, EventType

__all__ = ["ProgressPrinter", "describe_event", "find_new_run_dir"]


def find_new_run_dir(out_dir: Path, before: set[str], name: str) -> Path | None:
    """The newest run directory for ``name`` in ``out_dir`` that was not in ``before``."""
    if not out_dir.is_dir():
        return None
    fresh = [
        p
        for p in out_dir.iterdir()
        if p.is_dir()
        and p.name not in before
        and p.name.endswith(f"-{name}")
        and (p / RUN_JSON).exists()
    ]
    return max(fresh, key=lambda p: p.name, default=None)


def _seconds(value: Any) -> str:
    return f"{value:g}s" if isinstance(value, int | float) else "?"


def describe_event(event: dict[str, Any], start: float | None) -> str | None:
    """One human line for an event worth showing, else None."""
    kind = event.get("type")
    t = event.get("t")
    when = f"[{t - start:6.1f}s] " if isinstance(t, int | float) and start is not None else ""
    if kind == EventType.STAGE:
        label = f" '{event['name']}'" if event.get("name") else ""
        return (
            f"{when}stage {int(event.get('index', 0)) + 1}{label}: {event.get('users')} users "
            f"(spawn {event.get('spawn_rate')}/s) for {_seconds(event.get('duration_s'))}"
        )
    if kind == EventType.FAULT_INJECT:
        late = event.get("late_ms")
        late_text = f", {late:.0f} ms late" if isinstance(late, int | float) and late >= 100 else ""
        return f"{when}fault '{event.get('name')}' ({event.get('kind')}) injected{late_text}"
    if kind == EventType.FAULT_REVERT:
        ok = "" if event.get("ok", True) else f" FAILED: {event.get('error')}"
        return f"{when}fault '{event.get('name')}' reverted ({event.get('reason')}){ok}"
    if kind == EventType.FAULT_ERROR:
        return (
            f"{when}fault '{event.get('name')}' {event.get('action')} error: {event.get('error')}"
        )
    if kind in (EventType.WORKER_MISSING, EventType.WORKER_QUIT):
        return f"{when}{kind.replace('_', ' ')}: {event.get('worker')}"
    return None


class ProgressPrinter(threading.Thread):
    """Waits for the run directory to appear, then prints its events as they come."""

    def __init__(
        self,
        find_run_dir: Callable[[], Path | None],
        stream: TextIO | None = None,
        poll_s: float = 0.5,
    ) -> None:
        super().__init__(name="loadkit-progress", daemon=True)
        self._find = find_run_dir
        self._stream = stream or sys.stdout
        self._poll_s = poll_s
        self._stopped = threading.Event()
        self.run_dir: Path | None = None
        self._offset = 0
        self._start: float | None = None

    def stop(self) -> None:
        """Print what is left, then end the thread."""
        self._stopped.set()
        self.join(timeout=5.0)
        self._drain()

    def run(self) -> None:
        while not self._stopped.wait(self._poll_s):
            self._drain()

    def _drain(self) -> None:
        if self.run_dir is None:
            self.run_dir = self._find()
            if self.run_dir is None:
                return
            print(f"loadkit: run directory {self.run_dir}", file=self._stream, flush=True)
        path = self.run_dir / EVENTS_JSONL
        try:
            with path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a torn last line is read next time
        self._offset += len(complete)
        for raw in complete.splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if event.get("type") == EventType.RUN_START and isinstance(event.get("t"), int | float):
                self._start = float(event["t"])
            line = describe_event(event, self._start)
            if line:
                print(f"loadkit: {line}", file=self._stream, flush=True)
