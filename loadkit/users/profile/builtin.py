"""The ``builtin`` profile: the reference target's API, written by hand.

The default for every user class, so scenarios and locustfiles that name no
profile run against ``loadkit target`` exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadkit.users.events import CheckFailed
from loadkit.users.http import HttpClient, call_json
from loadkit.users.profile.api import JobState, SessionStart

__all__ = ["BuiltinJobs", "BuiltinSessions"]

_JOB_STATES = {"processing": "running"}  # the others are spelled as loadkit spells them


class BuiltinJobs:
    """:class:`~loadkit.users.profile.api.JobAPI` for the reference target's gateway."""

    def __init__(self) -> None:
        self.commands: Mapping[str, str] = {
            "echo": "echo {text}",
            "bytes": "bytes {size}",
            "set": "set {var}={value}",
            "get": "get {var}",
            "sleep": "sleep {seconds}",
        }

    def supports(self, call: str) -> bool:
        return call in ("output", "interrupt", "timeout")

    def submit(
        self, client: HttpClient, *, workspace: str, command: str, timeout_ms: int | None = None
    ) -> str:
        body: dict[str, Any] = {"workspace": workspace, "command": command}
        if timeout_ms is not None:
            body["timeout_ms"] = timeout_ms
        data = call_json(client, "POST", "/execute", name="/execute", expect=202, body=body)
        request_id = data.get("request_id")
        if not isinstance(request_id, str):
            raise CheckFailed(f"POST /execute: no request_id in {str(data)[:120]}")
        return request_id

    def status(self, client: HttpClient, job_id: str) -> JobState:
        data = call_json(client, "GET", f"/status/{job_id}", name="/status/[id]")
        raw = str(data.get("state"))
        error = data.get("error")
        state = _JOB_STATES.get(raw, raw)
        return JobState.from_stamps(
            state,
            raw,
            error,
            data,
            created=data.get("created_at"),
            started=data.get("processing_at"),
            completed=data.get("completed_at"),
        )

    def output(self, client: HttpClient, job_id: str) -> str:
        data = call_json(client, "GET", f"/responses/{job_id}", name="/responses/[id]")
        output = data.get("output")
        if not isinstance(output, str):
            raise CheckFailed(f"job {job_id}: output is {type(output).__name__}, not text")
        return output

    def interrupt(self, client: HttpClient, job_id: str) -> None:
        call_json(client, "POST", f"/interrupt/{job_id}", name="/interrupt/[id]")


class BuiltinSessions:
    """:class:`~loadkit.users.profile.api.SessionAPI` for the reference target's sessions."""

    def supports(self, call: str) -> bool:
        return call in ("activity", "close", "warm")

    def activate(
        self, client: HttpClient, *, client_id: str, user_id: str, project: str
    ) -> SessionStart:
        body = {"client_id": client_id, "user_id": user_id, "project": project}
        data = call_json(client, "POST", "/sessions", name="/sessions", expect=201, body=body)
        session_id = data.get("session_id")
        if not isinstance(session_id, str):
            raise CheckFailed(f"POST /sessions: no session_id in {str(data)[:120]}")
        return SessionStart(session_id, bool(data.get("warm")))

    def state(self, client: HttpClient, session_id: str) -> str:
        data = call_json(client, "GET", f"/sessions/{session_id}", name="/sessions/[id]")
        return str(data.get("state"))

    def activity(self, client: HttpClient, session_id: str, *, expect_gone: bool = False) -> None:
        path = f"/sessions/{session_id}/activity"
        call_json(
            client, "POST", path, name="/sessions/[id]/activity", expect=409 if expect_gone else 200
        )

    def close(self, client: HttpClient, session_id: str) -> None:
        call_json(client, "DELETE", f"/sessions/{session_id}", name="/sessions/[id]")
