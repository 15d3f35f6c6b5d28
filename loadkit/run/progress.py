"""Follow runs while they go: find their run directories, print stage and fault events.

One ``loadkit:`` line per event that matters to a person watching (a new stage,
a fault injected or reverted, a worker lost), read from the run directory's
``events.jsonl`` (see docs/run-dir.md) in a background thread, and every
``status_every_s`` one status line for the latest run (:mod:`loadkit.run.status`:
elapsed, stage, users, req/s, errors, p95 of the last interval, active faults; while
a stop waits for the users' graceful stop, the users still running instead).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loadkit.rundir.layout import EVENTS_JSONL, RUN_JSON, EventType

if TYPE_CHECKING:
    from loadkit.run.status import RunStatus

__all__ = ["ProgressPrinter", "describe_event", "find_new_run_dir", "find_new_run_dirs"]


def find_new_run_dirs(out_dir: Path, before: set[str], name: str) -> list[Path]:
    """Run directories for ``name`` in ``out_dir`` that were not in ``before``, oldest first.

    A run directory is ``<stamp>-<name>`` or, when two start in the same second,
    ``<stamp>-<name>-2``, ``-3``...
    """
    if not out_dir.is_dir():
        return []
    pattern = re.compile(rf".*-{re.escape(name)}(?:-[0-9]+)?")
    fresh = [
        p
        for p in out_dir.iterdir()
        if p.is_dir()
        and p.name not in before
        and pattern.fullmatch(p.name)
        and (p / RUN_JSON).exists()
    ]
    return sorted(fresh, key=_creation_order)


def _creation_order(path: Path) -> tuple[str, int]:
    stem, _, number = path.name.rpartition("-")
    if number.isdigit() and len(number) < 4:  # "-2", "-10": after the first of that second
        return stem, int(number)
    return path.name, 1


def find_new_run_dir(out_dir: Path, before: set[str], name: str) -> Path | None:
    """The newest run directory for ``name`` in ``out_dir`` that was not in ``before``."""
    found = find_new_run_dirs(out_dir, before, name)
    return found[-1] if found else None


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
    """Follows every new run directory (one per test start, e.g. from the web UI): prints its
    events as they come and, when a run stops (its ``run_stop`` event), calls ``on_finished``
    with its directory (``loadkit run --web`` writes each test's report there)."""

    def __init__(
        self,
        find_run_dirs: Callable[[], list[Path]],
        stream: TextIO | None = None,
        poll_s: float = 0.5,
        on_finished: Callable[[Path], int] | None = None,
        *,
        planned_s: float | None = None,
        status_every_s: float | None = None,
    ) -> None:
        super().__init__(name="loadkit-progress", daemon=True)
        self._find = find_run_dirs
        self._stream = stream or sys.stdout
        self._poll_s = poll_s
        self._on_finished = on_finished
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.run_dirs: list[Path] = []  # in the order they appeared
        self.finished: set[Path] = set()  # run_stop seen
        self.report_codes: dict[Path, int] = {}  # what on_finished returned, per run dir
        self._offsets: dict[Path, int] = {}
        self._starts: dict[Path, float] = {}
        self._planned_s = planned_s
        self._status_every_s = status_every_s
        self._status: RunStatus | None = None  # of the latest run directory

    @property
    def run_dir(self) -> Path | None:
        """The latest run directory seen (None before the first test start)."""
        return self.run_dirs[-1] if self.run_dirs else None

    def stop(self) -> None:
        """Print what is left (and report runs that stopped meanwhile), then end the thread."""
        self._stopped.set()
        self.join(timeout=5.0)
        self._drain()

    def run(self) -> None:
        next_status = time.monotonic() + (self._status_every_s or 0.0)
        while not self._stopped.wait(self._poll_s):
            self._drain()
            if self._status_every_s and time.monotonic() >= next_status:
                next_status = time.monotonic() + self._status_every_s
                status = self._status
                if status is not None and status.run_dir not in self.finished:
                    self._say(status.line())

    def _drain(self) -> None:
        with self._lock:  # the thread and stop() may drain at the same time
            for run_dir in self._find():
                if run_dir not in self._offsets:
                    self._offsets[run_dir] = 0
                    self.run_dirs.append(run_dir)
                    self._say(f"run directory {run_dir}")
                    if self._status_every_s:
                        from loadkit.run.status import RunStatus  # numpy: off the start-up

                        self._status = RunStatus(run_dir, self._planned_s)
            for run_dir in self.run_dirs:
                if run_dir not in self.finished:
                    self._follow(run_dir)

    def _say(self, line: str) -> None:
        print(f"loadkit: {line}", file=self._stream, flush=True)

    def _follow(self, run_dir: Path) -> None:
        path = run_dir / EVENTS_JSONL
        try:
            with path.open("rb") as handle:
                handle.seek(self._offsets[run_dir])
                data = handle.read()
        except OSError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a torn last line is read next time
        self._offsets[run_dir] += len(complete)
        stopped = False
        for raw in complete.splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            t = event.get("t")
            if event.get("type") == EventType.RUN_START and isinstance(t, int | float):
                self._starts[run_dir] = float(t)
            stopped = stopped or event.get("type") == EventType.RUN_STOP
            if self._status is not None and self._status.run_dir == run_dir:
                self._status.on_event(event)
            line = describe_event(event, self._starts.get(run_dir))
            if line:
                self._say(line)
        if stopped:
            self.finished.add(run_dir)
            if self._on_finished is not None:
                self.report_codes[run_dir] = self._on_finished(run_dir)
