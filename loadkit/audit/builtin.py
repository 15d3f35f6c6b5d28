"""How the built-in target says what became of an accepted item (one auditor per kind).

An auditor looks at one item and answers a :class:`Look`:

- ``jobs`` (``accepted(env, "jobs", request_id)``): ``GET /status/{id}``; the
  end state is a terminal state (completed, failed, timeout, interrupted),
  ``completed_at`` is when it got there; 404 is gone. ``claims`` (how many
  times an agent was handed the job) is how often it was applied: more than
  once when it was run again after its agent died or its lease expired.
- ``sessions`` (``accepted(env, "sessions", session_id)``; ``closed=True`` in a
  later record when the client deleted it): ``GET /sessions/{id}``; the end
  state is having been ready (``ready_at``); 404 is gone unless the client
  closed it (the target also purges sessions an hour after they expired: in a
  longer soak those read as lost).
- ``sync`` (``accepted(env, "sync", task_id, repo=REPO, version=N)``):
  ``GET /repos/{repo}/tasks/{id}``; the write is kept when the task's version
  is at least ``N``; 404 or a lower version is lost.

Other services are asked through their profile (:mod:`loadkit.audit.profile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

__all__ = ["BUILTIN_AUDITORS", "KindAuditor", "Look"]

JOB_TERMINAL = frozenset({"completed", "failed", "timeout", "interrupted"})


@dataclass(frozen=True)
class Look:
    """One look at an item: ``end`` (reached its end state), ``pending``, ``gone``,
    ``unreachable`` (no answer: nothing can be said)."""

    status: str
    state: str | None = None
    ended_at: float | None = None  # the service's own time of the end state, when it says
    applied: int | None = None  # how often it was applied, where the service exposes it
    detail: str = ""


class KindAuditor(Protocol):
    def look(self, client: httpx.Client, item: dict[str, Any]) -> Look: ...


def _get(client: httpx.Client, path: str) -> httpx.Response | Look:
    try:
        return client.get(path)
    except httpx.HTTPError as exc:
        return Look("unreachable", detail=f"{type(exc).__name__}: {exc}".rstrip(": "))


def _answer(response: httpx.Response) -> dict[str, Any] | Look:
    if response.status_code >= 500:
        return Look("unreachable", detail=f"HTTP {response.status_code}")
    if response.status_code != 200:
        return Look("pending", detail=f"HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        return Look("unreachable", detail="the answer is not JSON")
    return data if isinstance(data, dict) else Look("unreachable", detail="not a JSON object")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class JobAuditor:
    def look(self, client: httpx.Client, item: dict[str, Any]) -> Look:
        answer = _get(client, f"/status/{quote(item['id'], safe='')}")
        if isinstance(answer, Look):
            return answer
        if answer.status_code == 404:
            return Look("gone", detail="the service does not know this job (404)")
        data = _answer(answer)
        if isinstance(data, Look):
            return data
        state = str(data.get("state"))
        claims = data.get("claims")  # times an agent was handed the job to run
        runs = claims if isinstance(claims, int) and not isinstance(claims, bool) else None
        if state in JOB_TERMINAL:
            return Look("end", state, _number(data.get("completed_at")), runs)
        return Look("pending", state, applied=runs)


class SessionAuditor:
    def look(self, client: httpx.Client, item: dict[str, Any]) -> Look:
        answer = _get(client, f"/sessions/{quote(item['id'], safe='')}")
        if isinstance(answer, Look):
            return answer
        if answer.status_code == 404:
            if item.get("closed"):
                return Look("end", "closed", detail="closed by the client")
            return Look("gone", detail="the service does not know this session (404)")
        data = _answer(answer)
        if isinstance(data, Look):
            return data
        ready_at = _number(data.get("ready_at"))
        state = str(data.get("state"))
        return Look("end", state, ready_at) if ready_at is not None else Look("pending", state)


class WriteAuditor:
    def look(self, client: httpx.Client, item: dict[str, Any]) -> Look:
        repo = item.get("repo")
        if not isinstance(repo, str):
            return Look("unreachable", detail="recorded without its repo")
        answer = _get(client, f"/repos/{quote(repo, safe='')}/tasks/{quote(item['id'], safe='')}")
        if isinstance(answer, Look):
            return answer
        if answer.status_code == 404:
            return Look("gone", detail="the task is gone (404)")
        data = _answer(answer)
        if isinstance(data, Look):
            return data
        version, wanted = _number(data.get("version")), _number(item.get("version"))
        if version is None:
            return Look("unreachable", detail="the task has no version")
        if wanted is not None and version < wanted:
            return Look("gone", f"v{version:g}", detail=f"version {version:g} < written {wanted:g}")
        return Look("end", f"v{version:g}")  # applied when accepted: never late


BUILTIN_AUDITORS: dict[str, KindAuditor] = {
    "jobs": JobAuditor(),
    "sessions": SessionAuditor(),
    "sync": WriteAuditor(),
}
