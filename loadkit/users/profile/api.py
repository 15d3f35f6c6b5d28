"""What a user class needs of a service: one small adapter ``Protocol`` per behaviour.

A service profile is an object per behaviour: :class:`JobAPI` for
:class:`~loadkit.users.jobs.JobUser`, :class:`SessionAPI` for
:class:`~loadkit.users.sessions.SessionUser`, :class:`SyncAPI` for
:class:`~loadkit.users.sync.SyncUser`. The built-in ones speak the
reference target (:mod:`loadkit.users.profile.builtin`); YAML profiles
(:mod:`loadkit.users.profile.yamlapi`) speak anyone's. A Python subclass of
either overrides the one method YAML cannot say (request signing, multi-step
auth).

Every method makes its calls through :func:`loadkit.users.http.call_json`, so
each call is one Locust request and a bad answer raises
:class:`~loadkit.users.events.CheckFailed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadkit.units import epoch_seconds
from loadkit.users.http import HttpClient

__all__ = [
    "JOB_STATES",
    "SESSION_STATES",
    "Conflict",
    "JobAPI",
    "JobState",
    "SessionAPI",
    "SessionStart",
    "SyncAPI",
    "SyncEvent",
    "TaskRef",
]

# loadkit's own job states; a profile maps each of its service's states onto one.
JOB_STATES = ("queued", "running", "completed", "failed", "timeout", "interrupted")
JOB_TERMINAL = frozenset({"completed", "failed", "timeout", "interrupted"})
SESSION_STATES = ("starting", "ready", "idle", "expired", "closed", "failed")


@dataclass(frozen=True)
class JobState:
    """A job's state as loadkit names it, and the service's own word for it."""

    state: str
    raw: str
    error: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    server_ms: float | None = None  # created → completed by the service's own clock, if it says
    queue_ms: float | None = None  # created → started (waiting for a worker), if it says
    run_ms: float | None = None  # started → completed, if it says

    @property
    def terminal(self) -> bool:
        return self.state in JOB_TERMINAL

    @classmethod
    def from_stamps(
        cls,
        state: str,
        raw: str,
        error: object,
        fields: Mapping[str, Any],
        *,
        created: Any,
        started: Any,
        completed: Any,
    ) -> JobState:
        """A state whose times come from the service's own stamps (epoch seconds or
        ISO 8601; one that is missing or unreadable leaves its times out)."""
        created, started, completed = (epoch_seconds(s) for s in (created, started, completed))
        return cls(
            state,
            raw,
            None if error is None else str(error),
            fields,
            _elapsed_ms(created, completed),
            _elapsed_ms(created, started),
            _elapsed_ms(started, completed),
        )


def _elapsed_ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else max(0.0, (end - start) * 1000.0)


class JobAPI(Protocol):
    """Submit a job, read its state and output, interrupt it."""

    # task command -> template ({text}, {size}, {var}, {value}, {seconds}); absent = not offered
    commands: Mapping[str, str]

    def supports(self, call: str) -> bool:
        """Whether the optional call ``output`` / ``interrupt`` / ``timeout`` exists."""
        ...

    def submit(
        self, client: HttpClient, *, workspace: str, command: str, timeout_ms: int | None = None
    ) -> str:
        """Start a job; its id."""
        ...

    def status(self, client: HttpClient, job_id: str) -> JobState: ...

    def output(self, client: HttpClient, job_id: str) -> str: ...

    def interrupt(self, client: HttpClient, job_id: str) -> None: ...


@dataclass(frozen=True)
class SessionStart:
    """An answer to an activation: the session's id and whether it was a warm start."""

    session_id: str
    warm: bool | None = None


class SessionAPI(Protocol):
    """Activate a session, read its state, keep it active, close it."""

    def supports(self, call: str) -> bool:
        """Whether the optional call ``activity`` / ``close`` / ``warm`` exists."""
        ...

    def activate(
        self, client: HttpClient, *, client_id: str, user_id: str, project: str
    ) -> SessionStart: ...

    def state(self, client: HttpClient, session_id: str) -> str:
        """One of :data:`SESSION_STATES`."""
        ...

    def activity(
        self, client: HttpClient, session_id: str, *, expect_gone: bool = False
    ) -> None: ...

    def close(self, client: HttpClient, session_id: str) -> None: ...


@dataclass(frozen=True)
class TaskRef:
    """A task as a writer last saw it."""

    repo: str
    task_id: str
    version: int


@dataclass(frozen=True)
class SyncEvent:
    """One notification, in loadkit's words (``kind``: ``task.created`` / ``task.updated``).

    ``seq`` (a per-repo sequence) and ``written_at`` (the writer's clock) are
    optional: without ``seq`` missed events are found by version gaps, without
    ``written_at`` the latency of this process's own writes is measured.
    """

    kind: str
    repo: str
    task_id: str
    version: int | None = None
    seq: int | None = None
    written_at: float | None = None


@dataclass(frozen=True)
class Conflict:
    """What a batch sync said about a stale change (None: the service does not say)."""

    found: bool
    strategy: str | None = None
    server_version: int | None = None
    applied: int | None = None


class SyncAPI(Protocol):
    """Subscribe over a WebSocket, read its notifications, write tasks, batch-sync."""

    ws_path: str
    expected_strategy: str  # how a stale change's conflict must be resolved

    def subscribe(self, repos: list[str]) -> tuple[dict[str, Any], str | None]:
        """The subscribe message and the type of its reply (None: no reply awaited)."""
        ...

    def ping(self) -> dict[str, Any] | None: ...

    def event(self, message: Mapping[str, Any]) -> SyncEvent | str | None:
        """A notification; a server error's text; or None for anything else."""
        ...

    def create(
        self, client: HttpClient, *, repo: str, title: str, client_id: str, written_at: float
    ) -> TaskRef: ...

    def update(
        self, client: HttpClient, task: TaskRef, *, title: str, client_id: str, written_at: float
    ) -> TaskRef: ...

    def batch(
        self, client: HttpClient, stale: TaskRef, *, client_id: str, written_at: float
    ) -> Conflict: ...
