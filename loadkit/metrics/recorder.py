"""RunRecorder: one run directory per test start, written while the run goes.

The recorder lives as long as the Locust master (or local runner). Each
``test_start`` opens a new :class:`Run` (``run.json``, ``latency.hlog``,
``events.jsonl``, ``resources.csv``); ``test_stop`` stops sampling and
:meth:`RunRecorder.finish` completes ``run.json``. Events sent after a run
stopped still go to that run's timeline (a fault reverted on stop belongs to
it); events sent before the first run are kept and written when it starts.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gevent.monkey import get_original

from loadkit.errors import LoadkitError
from loadkit.metrics.intervals import IntervalMerger
from loadkit.metrics.resources import Collector, ResourceSampler
from loadkit.rundir.events import EventLog
from loadkit.rundir.hlog import HlogWriter
from loadkit.rundir.layout import (
    EVENTS_JSONL,
    LATENCY_HLOG,
    RESOURCES_CSV,
    RUN_JSON,
    RUN_SCHEMA,
    EventType,
    create_run_dir,
    write_json_atomic,
)

__all__ = ["NoRunYet", "Run", "RunInfo", "RunRecorder", "exit_status_for"]

log = logging.getLogger(__name__)

MAX_EARLY_EVENTS = 1000
# events at which the local runner cuts its current interval (see RunRecorder.on_cut)
CUT_EVENTS = frozenset({EventType.FAULT_INJECT, EventType.FAULT_REVERT})
# the OS thread's id (gevent patches threading's to tell greenlets apart)
_thread_id: Callable[[], int] = get_original("threading", "get_ident")


class NoRunYet(LoadkitError, AttributeError):
    """``run_dir`` / ``started_at`` asked before the first test start.

    Also an ``AttributeError`` (``getattr(recorder, "run_dir", None)`` answers
    None); the parts ask :attr:`RunRecorder.current_run_dir`, None then.
    """


@dataclass(frozen=True)
class RunInfo:
    """What ``run.json`` says about a run when it starts."""

    name: str
    host: str | None
    locustfile: str | None
    scenario_file: str | None
    mode: str  # "local" | "master"
    workers: int
    checks: list[str]
    baseline: str | None
    target_pids: dict[str, int]
    containers: list[str]
    versions: dict[str, str | None]
    git_commit: str | None


def exit_status_for(exit_code: int | None, interrupted: bool) -> str:
    if interrupted:
        return "interrupted"
    return "ok" if exit_code == 0 else "failed"


class Run:
    """The files of one run; every writer flushes as it goes."""

    def __init__(
        self,
        out_dir: Path,
        info: RunInfo,
        interval_s: float,
        collectors: list[Collector],
        started_at: float,
    ) -> None:
        self.started_at = started_at
        self.interval_s = interval_s
        self.dir = create_run_dir(out_dir, info.name, started_at)
        self.run_id = self.dir.name
        self.document: dict[str, Any] = {
            "schema": RUN_SCHEMA,
            "run_id": self.run_id,
            "name": info.name,
            "scenario_file": info.scenario_file,
            "locustfile": info.locustfile,
            "host": info.host,
            "interval_s": interval_s,
            "started_at": started_at,
            "stopped_at": None,
            "exit_status": None,
            "exit_code": None,
            "versions": info.versions,
            "git_commit": info.git_commit,
            "runner": {"mode": info.mode, "workers": info.workers},
            "totals": {"requests": 0, "failures": 0},
            "checks": info.checks,
            "baseline": info.baseline,
            "target": {"processes": info.target_pids, "containers": info.containers},
        }
        write_json_atomic(self.dir / RUN_JSON, self.document)
        self.events = EventLog(self.dir / EVENTS_JSONL)
        self.merger = IntervalMerger(
            HlogWriter(self.dir / LATENCY_HLOG, started_at), interval_s, started_at
        )
        self.sampler = ResourceSampler(self.dir / RESOURCES_CSV, collectors)
        self.stopped_at: float | None = None
        self.finished = False

    def write_run_json(self, **updates: Any) -> None:
        self.document.update(updates)
        write_json_atomic(self.dir / RUN_JSON, self.document)


class RunRecorder:
    """The handle other parts use: ``run_dir``, ``started_at``, ``event(type, **fields)``."""

    def __init__(self) -> None:
        self._run: Run | None = None
        self._early_events: deque[tuple[float, str, dict[str, Any]]] = deque(
            maxlen=MAX_EARLY_EVENTS
        )
        self._on_cut: Callable[[float], None] | None = None  # see set_on_cut
        self._cut_thread: int | None = None

    # -- the public surface ---------------------------------------------------------------

    @property
    def run(self) -> Run | None:
        """The current (or last) run, None before the first test start."""
        return self._run

    @property
    def run_dir(self) -> Path:
        return self._require_run().dir

    @property
    def current_run_dir(self) -> Path | None:
        """The run dir of the current (or last) run; None before the first test start."""
        return None if self._run is None else self._run.dir

    @property
    def started_at(self) -> float:
        return self._require_run().started_at

    @property
    def running(self) -> bool:
        return self._run is not None and self._run.stopped_at is None

    def event(self, type: str, **fields: Any) -> None:
        """Append ``{"t", "type", **fields}`` to the run's ``events.jsonl`` (any thread)."""
        run = self._run
        if run is None:
            self._early_events.append((time.time(), type, fields))
            return
        on_cut = self._on_cut
        if (
            on_cut is not None
            and type in CUT_EVENTS
            and "t" not in fields  # stamped by its backend (a kill's signal time): not now
            and run.stopped_at is None
            and _thread_id() == self._cut_thread
        ):
            t = time.time()
            on_cut(t)
            run.events.append(type, fields, t=t)
            return
        run.events.append(type, fields)

    def set_on_cut(self, on_cut: Callable[[float], None] | None) -> None:
        """Call ``on_cut(t)`` just before a fault event stamped ``t`` (now) is written.

        The local runner cuts its current interval there, so that a fault window's edges
        are edges of the latency log's lines too. Only for events sent on the thread that
        set it (the runner's, where the counter counts); others are written uncut.
        """
        self._on_cut = on_cut
        self._cut_thread = _thread_id() if on_cut is not None else None

    # -- lifecycle, driven by the plugin --------------------------------------------------

    def start(
        self,
        out_dir: Path,
        info: RunInfo,
        interval_s: float,
        collectors: list[Collector],
    ) -> Run:
        if self._run is not None and not self._run.finished:
            self.finish(exit_code=None, interrupted=False, totals=None)
        if self._run is not None:
            self._run.events.close()
        started_at = time.time()
        run = Run(out_dir, info, interval_s, collectors, started_at)
        self._run = run
        # the verdict's inputs again, append-only: a damaged run.json cannot make them vanish
        run.events.append(
            EventType.RUN_START,
            {
                "run_id": run.run_id,
                "host": info.host,
                "mode": info.mode,
                "checks": info.checks,
                "baseline": info.baseline,
            },
        )
        while self._early_events:
            t, type_, fields = self._early_events.popleft()
            run.events.append(type_, fields, t=t)
        run.sampler.start()
        log.info("loadkit: recording run %s in %s", run.run_id, run.dir)
        return run

    def stop(self) -> None:
        """The test stopped: stop sampling, note the time (intervals keep arriving)."""
        run = self._run
        if run is None or run.stopped_at is not None:
            return
        run.stopped_at = time.time()
        run.merger.stopped_at = run.stopped_at
        run.sampler.stop()

    def finish(
        self,
        exit_code: int | None,
        interrupted: bool,
        totals: dict[str, int] | None,
    ) -> None:
        """Write what is pending and complete ``run.json``; again later to update the exit code."""
        run = self._run
        if run is None:
            return
        self.stop()
        run.merger.write_all()
        status = exit_status_for(exit_code, interrupted) if exit_code is not None else None
        if status is None:
            status = run.document.get("exit_status") or "ok"
        updates: dict[str, Any] = {"stopped_at": run.stopped_at, "exit_status": status}
        if exit_code is not None:
            updates["exit_code"] = exit_code
        if totals is not None:
            updates["totals"] = totals
        if not run.finished:
            run.events.append(EventType.RUN_STOP, {"exit_status": status})
            run.finished = True
        try:
            run.write_run_json(**updates)
        except OSError as exc:
            log.error("loadkit: could not complete %s: %s", run.dir / RUN_JSON, exc)

    def close(self) -> None:
        run = self._run
        if run is not None:
            run.merger.writer.close()
            run.events.close()

    def _require_run(self) -> Run:
        if self._run is None:
            raise NoRunYet("no loadkit run has started yet (a run starts on test_start)")
        return self._run
