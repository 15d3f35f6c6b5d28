"""A YAML profile's ``sync:`` section: its WebSocket messages and its task calls.

::

    sync:
      strategy: server_wins                  # how a stale change must be resolved
      websocket:
        path: /ws
        subscribe: {type: subscribe, repositories: "{repos}"}
        subscribed: subscribed               # reply type to await (optional)
        ping: {type: ping}                   # optional
        type: type                           # JMESPath, in every message:
        kinds: {task.created: task.created, task.updated: task.updated}
        error: error                         # optional: the type of an error message
        repo: repository
        task: taskId
        version: version
        seq: seq                             # optional
        written_at: meta.written_at          # optional, seconds since the epoch
      create: {path: /api/tasks, body: {...}, id: id, version: version}
      update: {method: PUT, path: "/api/tasks/{id}", body: {...}, version: version}
      batch: {path: /api/sync/batch, body: {...}, conflicts: conflicts, conflict_id: taskId,
              strategy: resolution.strategy, server_version: server.version}

Write placeholders: ``{repo} {id} {version} {title} {client_id} {written_at}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadkit.scenario.yamldoc import FieldPath, YamlDoc
from loadkit.users.events import CheckFailed
from loadkit.users.http import HttpClient
from loadkit.users.profile.api import Conflict, SyncEvent, TaskRef
from loadkit.users.profile.calls import Call, Query, YamlAdapter, compile_query, fill_body
from loadkit.users.profile.spec import read_calls, read_template, read_text

__all__ = ["YamlSync", "read_sync"]

KINDS = ("task.created", "task.updated")
WS_KEYS = ("path", "subscribe", "subscribed", "ping", "type", "kinds", "error", "repo", "task",
           "version", "seq", "written_at")  # fmt: skip
WS_FIELDS = ("type", "repo", "task", "version", "seq", "written_at")
WS_REQUIRED = ("type", "repo", "task")


@dataclass(frozen=True)
class WebSocketSpec:
    path: str
    subscribe: Any
    subscribed: str | None
    ping: Any
    kinds: Mapping[str, str]
    error: str | None
    fields: Mapping[str, Query]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class YamlSync(YamlAdapter):
    """:class:`~loadkit.users.profile.api.SyncAPI` from a profile's ``sync:`` section."""

    def __init__(self, ws: WebSocketSpec, calls: Mapping[str, Call], strategy: str) -> None:
        self.ws = ws
        self.calls = calls
        self.ws_path = ws.path
        self.expected_strategy = strategy

    def subscribe(self, repos: list[str]) -> tuple[dict[str, Any], str | None]:
        return dict(fill_body(self.ws.subscribe, {"repos": repos})), self.ws.subscribed

    def ping(self) -> dict[str, Any] | None:
        return None if self.ws.ping is None else dict(self.ws.ping)

    def _read(self, message: Mapping[str, Any], name: str) -> Any:
        query = self.ws.fields.get(name)
        return None if query is None else query.search(message)

    def event(self, message: Mapping[str, Any]) -> SyncEvent | str | None:
        kind = self._read(message, "type")
        if self.ws.error is not None and kind == self.ws.error:
            return str(message)[:160]
        if kind not in self.ws.kinds:
            return None
        repo, task = self._read(message, "repo"), self._read(message, "task")
        if not isinstance(repo, str) or not isinstance(task, str | int):
            return f"malformed {kind} event: {str(message)[:120]}"
        written_at = self._read(message, "written_at")
        return SyncEvent(
            self.ws.kinds[kind],
            repo,
            str(task),
            _int(self._read(message, "version")),
            _int(self._read(message, "seq")),
            float(written_at) if isinstance(written_at, int | float) else None,
        )

    def _ref(self, call: Call, data: Mapping[str, Any], repo: str, task_id: str | None) -> TaskRef:
        found_id = call.read(data, "id") if task_id is None else task_id
        version = _int(call.read(data, "version"))
        if found_id is None or version is None:
            raise CheckFailed(f"{call.method} {call.name}: no id/version in {str(data)[:120]}")
        return TaskRef(str(call.read(data, "repo") or repo), str(found_id), version)

    def create(
        self, client: HttpClient, *, repo: str, title: str, client_id: str, written_at: float
    ) -> TaskRef:
        call = self.calls["create"]
        values = {"repo": repo, "title": title, "client_id": client_id, "written_at": written_at}
        return self._ref(call, self.send(client, call, values), repo, None)

    def _values(self, task: TaskRef, **more: Any) -> dict[str, Any]:
        return {"repo": task.repo, "id": task.task_id, "version": task.version, **more}

    def update(
        self, client: HttpClient, task: TaskRef, *, title: str, client_id: str, written_at: float
    ) -> TaskRef:
        call = self.calls["update"]
        values = self._values(task, title=title, client_id=client_id, written_at=written_at)
        return self._ref(call, self.send(client, call, values), task.repo, task.task_id)

    def batch(
        self, client: HttpClient, stale: TaskRef, *, client_id: str, written_at: float
    ) -> Conflict:
        call = self.calls["batch"]
        title = f"new offline {stale.task_id[:8]}"
        values = self._values(stale, title=title, client_id=client_id, written_at=written_at)
        data = self.send(client, call, values)
        applied = _int(call.read(data, "applied"))
        for conflict in call.read(data, "conflicts") or []:
            if (
                isinstance(conflict, dict)
                and str(call.read(conflict, "conflict_id")) == stale.task_id
            ):
                strategy = call.read(conflict, "strategy")
                server_version = _int(call.read(conflict, "server_version"))
                return Conflict(
                    True, None if strategy is None else str(strategy), server_version, applied
                )
        return Conflict(False, applied=applied)


def _websocket(doc: YamlDoc, raw: Any, path: FieldPath) -> WebSocketSpec:
    if not isinstance(raw, dict):
        raise doc.error(path, "must be a mapping", "give path, subscribe, type, kinds, repo, task")
    doc.check_keys(raw, WS_KEYS, path)
    for key in ("path", "subscribe", "kinds", *WS_REQUIRED):
        if key not in raw:
            raise doc.error(path, f"has no {key!r}", f"add {key}: ...")
    ws_path = read_text(doc, raw["path"], (*path, "path"), "/ws")
    if not ws_path.startswith("/"):
        raise doc.error((*path, "path"), f"{ws_path!r} does not start with '/'")
    if not isinstance(raw["subscribe"], dict):
        raise doc.error((*path, "subscribe"), "must be a JSON object template",
                        "write e.g. {type: subscribe, repositories: '{repos}'}")  # fmt: skip
    read_template(doc, raw["subscribe"], (*path, "subscribe"), frozenset({"repos"}))
    ping = raw.get("ping")
    if ping is not None and not isinstance(ping, dict):
        raise doc.error((*path, "ping"), "must be a JSON object", "write e.g. {type: ping}")
    kinds = raw["kinds"]
    if not isinstance(kinds, dict) or not kinds:
        raise doc.error((*path, "kinds"), "must map the service's event types onto loadkit's",
                        "write e.g. {created: task.created, updated: task.updated}")  # fmt: skip
    for theirs, ours in kinds.items():
        if ours not in KINDS:
            raise doc.error((*path, "kinds", str(theirs)), f"{ours!r} is not a loadkit event",
                            f"use one of {', '.join(KINDS)}")  # fmt: skip
    fields = {}
    for name in WS_FIELDS:
        if name in raw:
            text = read_text(doc, raw[name], (*path, name), "data.id")
            try:
                fields[name] = compile_query(text)
            except ValueError as exc:
                raise doc.error((*path, name), str(exc), "see https://jmespath.org") from None
    subscribed = raw.get("subscribed")
    error = raw.get("error")
    return WebSocketSpec(
        ws_path,
        raw["subscribe"],
        None if subscribed is None else str(subscribed),
        ping,
        {str(k): str(v) for k, v in kinds.items()},
        None if error is None else str(error),
        fields,
    )


def read_sync(doc: YamlDoc, raw: Any, path: FieldPath, headers: Mapping[str, str]) -> YamlSync:
    """The ``sync:`` section, checked (file:line: field on any mistake)."""
    calls = read_calls(doc, "sync", raw, path, headers)
    if "websocket" not in raw:
        raise doc.error(path, "has no 'websocket'", "add websocket: {path: /ws, ...}")
    ws = _websocket(doc, raw["websocket"], (*path, "websocket"))
    strategy = read_text(
        doc, raw.get("strategy", "server_wins"), (*path, "strategy"), "server_wins"
    )
    return YamlSync(ws, {name: call for name, (call, _) in calls.items()}, strategy)
