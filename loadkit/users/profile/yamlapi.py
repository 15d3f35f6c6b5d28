"""The adapters a YAML profile becomes: :class:`YamlJobs` and :class:`YamlSessions`.

Subclass either to override the one call YAML cannot say (say, signing a
request) and set it as ``job_api`` / ``session_api`` on your user class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadkit.users.events import PROCESS_TOKEN, CheckFailed
from loadkit.users.http import HttpClient
from loadkit.users.profile.api import JOB_TERMINAL, JobState, SessionStart
from loadkit.users.profile.calls import Call, YamlAdapter, placeholders

__all__ = ["YamlJobs", "YamlSessions"]

Calls = Mapping[str, tuple[Call, Mapping[str, str]]]


def _mapped(states: Mapping[str, str], raw: str, where: str) -> str:
    try:
        return states[raw]
    except KeyError:
        raise CheckFailed(f"{where}: state {raw!r} is not in the profile's states") from None


class YamlJobs(YamlAdapter):
    """:class:`~loadkit.users.profile.api.JobAPI` from a profile's ``jobs:`` section."""

    def __init__(self, calls: Calls, commands: Mapping[str, str]) -> None:
        self.calls = calls
        self.commands: Mapping[str, str] = dict(commands)
        submit = calls["submit"][0]
        self._timeout = "timeout_ms" in _all_placeholders(submit.body)

    def supports(self, call: str) -> bool:
        if call == "timeout":
            return self._timeout
        return call in self.calls

    def submit(
        self, client: HttpClient, *, workspace: str, command: str, timeout_ms: int | None = None
    ) -> str:
        call = self.calls["submit"][0]
        values = {
            "workspace": workspace,
            "command": command,
            "timeout_ms": timeout_ms,
            "client_id": f"lk-{PROCESS_TOKEN}",
        }
        data = self.send(client, call, values)
        job_id = call.read(data, "id")
        if not isinstance(job_id, str | int) or isinstance(job_id, bool) or job_id == "":
            raise CheckFailed(f"{call.method} {call.name}: no job id in {str(data)[:120]}")
        return str(job_id)

    def status(self, client: HttpClient, job_id: str) -> JobState:
        call, states = self.calls["status"]
        data = self.send(client, call, {"id": job_id})
        raw = str(call.read(data, "state"))
        error = call.read(data, "error")
        state = _mapped(states, raw, f"job {job_id}")
        stamps: dict[str, Any] = {}
        if state in JOB_TERMINAL:
            stamps = {
                name: call.read(data, name)
                for name in ("created", "started", "completed")
                if name in call.fields
            }
        return JobState.from_stamps(
            state,
            raw,
            error,
            data,
            created=stamps.get("created"),
            started=stamps.get("started"),
            completed=stamps.get("completed"),
        )

    def output(self, client: HttpClient, job_id: str) -> str:
        call = self.calls["output"][0]
        output = call.read(self.send(client, call, {"id": job_id}), "output")
        if not isinstance(output, str):
            raise CheckFailed(f"job {job_id}: output is {type(output).__name__}, not text")
        return output

    def interrupt(self, client: HttpClient, job_id: str) -> None:
        self.send(client, self.calls["interrupt"][0], {"id": job_id})


class YamlSessions(YamlAdapter):
    """:class:`~loadkit.users.profile.api.SessionAPI` from a profile's ``sessions:`` section."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        state_call, states = calls["state"]
        if "state" not in state_call.fields:  # the HTTP status is the state
            codes = tuple(int(code) for code in states if code.isdigit())
            self.calls = {**calls, "state": (_with_expect(state_call, codes), states)}

    def supports(self, call: str) -> bool:
        if call == "warm":
            return "warm" in self.calls["activate"][0].fields
        return call in self.calls

    def activate(
        self, client: HttpClient, *, client_id: str, user_id: str, project: str
    ) -> SessionStart:
        call = self.calls["activate"][0]
        data = self.send(
            client, call, {"client_id": client_id, "user_id": user_id, "project": project}
        )
        session_id = call.read(data, "id")
        if not isinstance(session_id, str | int) or isinstance(session_id, bool):
            raise CheckFailed(f"{call.method} {call.name}: no session id in {str(data)[:120]}")
        warm = call.read(data, "warm")
        return SessionStart(str(session_id), None if warm is None else bool(warm))

    def state(self, client: HttpClient, session_id: str) -> str:
        call, states = self.calls["state"]
        if "state" in call.fields:
            raw = str(call.read(self.send(client, call, {"id": session_id}), "state"))
        else:
            raw = str(self.send_status(client, call, {"id": session_id}))
        return _mapped(states, raw, f"session {session_id}")

    def activity(self, client: HttpClient, session_id: str, *, expect_gone: bool = False) -> None:
        call = self.calls["activity"][0]
        if expect_gone:
            call = _with_expect(call, (404, 409, 410))
        self.send(client, call, {"id": session_id})

    def close(self, client: HttpClient, session_id: str) -> None:
        self.send(client, self.calls["close"][0], {"id": session_id})


def _with_expect(call: Call, codes: tuple[int, ...]) -> Call:
    return Call(call.method, call.path, codes, call.body, call.headers, call.fields)


def _all_placeholders(template: Any) -> set[str]:
    if isinstance(template, str):
        return placeholders(template)
    if isinstance(template, dict):
        return set().union(*(_all_placeholders(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(_all_placeholders(v) for v in template))
    return set()
