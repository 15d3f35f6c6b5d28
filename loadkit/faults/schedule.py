"""The fault schedule: injects and reverts faults on time, aligned to the test start.

Runs on the master (or the local runner) only. One timeline greenlet sleeps
until each planned instant and hands the action to its own greenlet, so a slow
backend never delays the next fault. A per-fault lock keeps a fault's revert
after its inject. Every action writes an event through the run recorder
(``fault_inject`` with ``planned_at_s`` and ``late_ms``, ``fault_revert`` with
``reason``/``ok``/``error``, ``fault_error``), updates the journal, and calls
``on_change`` with the names of the active faults (the plugin tells workers).

``late_ms`` is the time from the planned instant to the moment the backend
call returned (the fault is in effect), or to the moment the backend says it
took effect (an :class:`~loadkit.faults.backends.base.Effect`: the signal
time of a kill; the time a restarted process answered again, which closes
the window of a ``restart``). Event fields are redacted (no secrets). Timing
uses the monotonic clock (wall clock steps cannot move a fault); events carry
wall-clock ``t`` as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import gevent
import gevent.lock
import gevent.pool

from loadkit.errors import LoadkitError
from loadkit.faults.backends.base import BackendSet, Effect
from loadkit.faults.journal import FaultJournal
from loadkit.faults.model import FaultSpec
from loadkit.rundir.layout import EventType
from loadkit.safety.redact import redact_value

__all__ = ["FaultSchedule", "FaultStatus", "Recorder"]

log = logging.getLogger(__name__)

ACTION_JOIN_TIMEOUT_S = 30.0


class Recorder(Protocol):
    """What the schedule needs of the metrics part's run recorder."""

    @property
    def run_dir(self) -> Path: ...

    def event(self, type: str, **fields: Any) -> None: ...


@dataclass
class FaultStatus:
    spec: FaultSpec
    state: str = "pending"  # pending | active | reverted | done | failed | revert_failed
    injected_at: float | None = None  # monotonic
    reverted_at: float | None = None  # monotonic
    late_ms: float | None = None
    error: str | None = None


class FaultSchedule:
    """Owns the plan, its live state and the guarantee that active faults get reverted."""

    def __init__(
        self,
        specs: list[FaultSpec],
        backends: BackendSet,
        recorder: Recorder | None = None,
        journal: FaultJournal | None = None,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.backends = backends
        self.recorder = recorder
        self.journal = journal
        self.on_change = on_change
        self.statuses = {name: FaultStatus(spec) for name, spec in self.specs.items()}
        self._locks = {name: gevent.lock.RLock() for name in self.specs}
        self._actions = gevent.pool.Group()
        self._timeline: gevent.Greenlet | None = None
        self.t0: float | None = None  # wall clock of the test start (display)
        self._t0_mono: float | None = None

    # -- running -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._timeline is not None and not self._timeline.dead

    def start(self, t0: float | None = None) -> None:
        """Start the timeline (a new test: states reset, offsets count from ``t0``)."""
        self._halt_timeline()
        self.t0 = time.time() if t0 is None else t0
        self._t0_mono = time.monotonic() - (time.time() - self.t0)
        for name, status in self.statuses.items():
            if status.state != "active":
                self.statuses[name] = FaultStatus(status.spec)
        self._timeline = gevent.spawn(self._run_timeline)

    def _plan(self) -> list[tuple[float, int, str, FaultSpec]]:
        plan: list[tuple[float, int, str, FaultSpec]] = []
        for spec in self.specs.values():
            plan.append((spec.at_s, 1, "inject", spec))
            if spec.for_s is not None and not spec.instant:
                plan.append((spec.at_s + spec.for_s, 0, "revert", spec))
        return sorted(plan, key=lambda item: (item[0], item[1], item[3].index))

    def _run_timeline(self) -> None:
        assert self._t0_mono is not None
        for offset, _, action, spec in self._plan():
            while (delay := self._t0_mono + offset - time.monotonic()) > 0:
                gevent.sleep(delay)
            if action == "inject":
                self._actions.spawn(self.inject, spec.name, planned_at_s=offset)
            else:
                self._actions.spawn(self.revert, spec.name, reason="scheduled", planned_at_s=offset)

    def _halt_timeline(self) -> None:
        if self._timeline is not None:
            self._timeline.kill(block=True)
            self._timeline = None

    def stop(self, reason: str = "stop") -> None:
        """Stop the timeline, let in-flight actions finish, revert everything active."""
        self._halt_timeline()
        self._actions.join(timeout=ACTION_JOIN_TIMEOUT_S)
        active = [s for s in self.statuses.values() if s.state in ("active", "revert_failed")]
        for status in sorted(active, key=lambda s: -(s.injected_at or 0.0)):
            self.revert(status.spec.name, reason=reason)

    # -- actions -------------------------------------------------------------------

    def _offset(self, mono: float) -> float:
        return mono - (self._t0_mono if self._t0_mono is not None else mono)

    def inject(self, name: str, *, planned_at_s: float | None = None) -> FaultStatus:
        """Inject ``name`` now (``planned_at_s`` given: on behalf of the timeline)."""
        spec = self.specs[name]
        with self._locks[name]:
            status = self.statuses[name]
            if status.state in ("active", "revert_failed"):
                return status
            started = time.monotonic()
            try:
                effect = self.backends.inject(spec)
            except Exception as exc:
                self._failed(status, "inject", exc)
                return status
            done = time.monotonic() if effect is None else _mono(effect.at)
            planned_abs = (
                started
                if planned_at_s is None or self._t0_mono is None
                else self._t0_mono + planned_at_s
            )
            status.state, status.injected_at, status.error = "active", done, None
            manual = planned_at_s is None
            status.late_ms = None if manual else round((done - planned_abs) * 1000, 3)
            if self.journal and not spec.instant:
                self.journal.add(spec)
            self._event(
                EventType.FAULT_INJECT,
                name=name,
                kind=spec.kind,
                target=spec.target,
                params=dict(spec.params),
                planned_at_s=round(self._offset(planned_abs), 6),
                late_ms=status.late_ms,
                trigger="schedule" if planned_at_s is not None else "manual",
                **_at(effect),
            )
            if spec.instant:  # done once it returned: close its window at once
                until = effect.until if effect is not None else None
                status.state = "done"
                status.reverted_at = time.monotonic() if until is None else _mono(until)
                self._event(
                    EventType.FAULT_REVERT,
                    name=name,
                    kind=spec.kind,
                    reason="scheduled" if planned_at_s is not None else "manual",
                    ok=True,
                    error=None,
                    **({} if until is None else {"t": until}),
                )
        self._changed()
        return status

    def revert(
        self, name: str, *, reason: str = "manual", planned_at_s: float | None = None
    ) -> FaultStatus:
        """Revert ``name`` if it is active; ``reason`` goes into the event.

        A scheduled revert (``planned_at_s`` given) also records ``late_ms``.
        """
        spec = self.specs[name]
        with self._locks[name]:
            status = self.statuses[name]
            if status.state not in ("active", "revert_failed"):
                return status
            error: str | None = None
            effect: Effect | None = None
            try:
                effect = self.backends.revert(spec)
            except Exception as exc:
                error = _message(exc)
            status.reverted_at = time.monotonic() if effect is None else _mono(effect.at)
            extra: dict[str, Any] = {}
            if planned_at_s is not None and self._t0_mono is not None:
                late = status.reverted_at - (self._t0_mono + planned_at_s)
                extra = {"planned_at_s": planned_at_s, "late_ms": round(late * 1000, 3)}
            self._event(
                EventType.FAULT_REVERT,
                name=name,
                kind=spec.kind,
                reason=reason,
                ok=error is None,
                error=error,
                **extra,
                **_at(effect),
            )
            if error is None:
                status.state, status.error = "reverted", None
                if self.journal:
                    self.journal.remove(name)
            else:
                self._failed(status, "revert", error)
        self._changed()
        return status

    def _failed(self, status: FaultStatus, action: str, exc: BaseException | str) -> None:
        message = exc if isinstance(exc, str) else _message(exc)
        if not isinstance(exc, str | LoadkitError):
            log.exception("fault %s: %s failed", status.spec.name, action, exc_info=exc)
        status.state = "failed" if action == "inject" else "revert_failed"
        status.error = message
        self._event(EventType.FAULT_ERROR, name=status.spec.name, action=action, error=message)
        spec = status.spec
        log.warning("fault %s (%s): %s failed: %s", spec.name, spec.where, action, message)

    def _event(self, type_: str, **fields: Any) -> None:
        fields = redact_value(fields)
        if self.recorder is not None:
            try:
                self.recorder.event(type_, **fields)
            except Exception:
                log.exception("could not record %s event", type_)
        else:
            log.info("%s %s", type_, fields)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.active())

    # -- views -----------------------------------------------------------------

    def active(self) -> list[str]:
        return [n for n, s in self.statuses.items() if s.state in ("active", "revert_failed")]

    def snapshot(self) -> list[dict[str, Any]]:
        """The plan with live state, for the web UI (JSON-able)."""
        rows = []
        for name, status in self.statuses.items():
            spec = status.spec
            try:
                description = self.backends.describe(spec)
            except Exception as exc:
                description = f"({_message(exc)})"
            rows.append(
                {
                    "name": name,
                    "kind": spec.kind,
                    "via": spec.via,
                    "target": spec.target,
                    "at_s": spec.at_s,
                    "for_s": spec.for_s,
                    "state": status.state,
                    "injected_at_s": _maybe_offset(self._t0_mono, status.injected_at),
                    "reverted_at_s": _maybe_offset(self._t0_mono, status.reverted_at),
                    "late_ms": status.late_ms,
                    "error": status.error,
                    "describe": description,
                }
            )
        return rows


def _mono(wall: float) -> float:
    """A wall-clock instant on the monotonic clock."""
    return time.monotonic() - (time.time() - wall)


def _at(effect: Effect | None) -> dict[str, float]:
    """The event's ``t`` when the backend knows when the action took effect."""
    return {} if effect is None else {"t": effect.at}


def _maybe_offset(t0: float | None, t: float | None) -> float | None:
    if t is None or t0 is None:
        return None
    return round(t - t0, 3)


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, LoadkitError) else f"{type(exc).__name__}: {text}"
