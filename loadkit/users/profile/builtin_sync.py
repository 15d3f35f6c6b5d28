"""The ``builtin`` profile's sync part: the reference target's tasks API and ``WS /ws``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadkit.users.events import CheckFailed
from loadkit.users.http import HttpClient, call_json
from loadkit.users.profile.api import Conflict, SyncEvent, TaskRef

__all__ = ["BuiltinSync"]


def _ref(data: Mapping[str, Any], what: str) -> TaskRef:
    repo, task_id, version = data.get("repo"), data.get("task_id"), data.get("version")
    if not isinstance(repo, str) or not isinstance(task_id, str) or not isinstance(version, int):
        raise CheckFailed(f"{what}: no repo/task_id/version in {str(data)[:120]}")
    return TaskRef(repo, task_id, version)


class BuiltinSync:
    """:class:`~loadkit.users.profile.api.SyncAPI` for the reference target."""

    ws_path = "/ws"
    expected_strategy = "server_wins"

    def subscribe(self, repos: list[str]) -> tuple[dict[str, Any], str | None]:
        return {"op": "subscribe", "repos": repos}, "subscribed"

    def ping(self) -> dict[str, Any] | None:
        return {"op": "ping"}

    def event(self, message: Mapping[str, Any]) -> SyncEvent | str | None:
        kind = message.get("type")
        if kind == "error":
            return str(message.get("error"))
        if kind not in ("task.created", "task.updated"):
            return None
        repo, seq, body = message.get("repo"), message.get("seq"), message.get("task") or {}
        if not isinstance(repo, str) or not isinstance(seq, int) or not isinstance(body, dict):
            return f"malformed {kind} event: {str(message)[:120]}"
        version = body.get("version")
        meta = body.get("meta")
        written_at = meta.get("written_at") if isinstance(meta, dict) else None
        return SyncEvent(
            str(kind),
            repo,
            str(body.get("task_id")),
            version if isinstance(version, int) else None,
            seq,
            float(written_at) if isinstance(written_at, int | float) else None,
        )

    def create(
        self, client: HttpClient, *, repo: str, title: str, client_id: str, written_at: float
    ) -> TaskRef:
        body = {"title": title, "client_id": client_id,
                "meta": {"written_at": written_at, "by": client_id}}  # fmt: skip
        path = f"/repos/{repo}/tasks"
        data = call_json(client, "POST", path, name="/repos/[repo]/tasks", expect=201, body=body)
        return _ref(data, f"POST {path}")

    def update(
        self, client: HttpClient, task: TaskRef, *, title: str, client_id: str, written_at: float
    ) -> TaskRef:
        body = {"title": title, "base_version": task.version, "client_id": client_id,
                "meta": {"written_at": written_at, "by": client_id}}  # fmt: skip
        path = f"/repos/{task.repo}/tasks/{task.task_id}"
        data = call_json(client, "PUT", path, name="/repos/[repo]/tasks/[id]", body=body)
        return _ref(data, f"PUT {path}")

    def batch(
        self, client: HttpClient, stale: TaskRef, *, client_id: str, written_at: float
    ) -> Conflict:
        meta = {"written_at": written_at, "by": client_id}
        body = {
            "client_id": client_id,
            "changes": [
                {"task_id": stale.task_id, "base_version": stale.version,
                 "title": "offline edit", "meta": meta},
                {"title": f"new offline {stale.task_id[:8]}", "meta": meta},
            ],
        }  # fmt: skip
        path = f"/repos/{stale.repo}/sync"
        result = call_json(client, "POST", path, name="/repos/[repo]/sync", body=body)
        conflicts = {c.get("task_id"): c for c in result.get("conflicts") or []}
        conflict = conflicts.get(stale.task_id)
        if conflict is None:
            return Conflict(False, applied=len(result.get("applied") or []))
        server = conflict.get("server") or {}
        return Conflict(
            True,
            str(conflict.get("resolution")),
            server.get("version") if isinstance(server.get("version"), int) else None,
            len(result.get("applied") or []),
        )
