"""Reading a YAML service profile: every field checked, errors as ``file:line: field: ...``.

A profile (a file, or a scenario's ``service:`` section)::

    headers: {Authorization: "Bearer ${GATEWAY_TOKEN}"}   # every call; ${ENV} = a secret
    jobs:
      commands: {echo: "echo {text}", sleep: "sleep {seconds}"}
      submit: {method: POST, path: /execute, expect: 202,
               body: {workspace: "{workspace}", command: "{command}", timeoutMs: "{timeout_ms}"},
               id: requestId}                              # JMESPath into the answer
      status: {path: "/status/{id}", state: state, error: error,
               states: {queued: queued, processing: running, completed: completed,
                        failed: failed, timeout: timeout}}
      output: {path: "/responses/{id}", output: output}   # optional
      interrupt: {method: POST, path: "/interrupt/{id}"}  # optional
    sessions:
      activate: {method: POST, path: /api/sessions, body: {...}, id: sessionId, warm: warm}
      state: {path: "/session/{id}/health", states: {"200": ready, "503": starting}}
      activity: {method: POST, path: "/sessions/{id}/activity"}   # optional
      close: {method: DELETE, path: "/sessions/{id}"}             # optional

``state:`` is a JMESPath query; without it the HTTP status is the state.
Each section may also say how the loss audit reads an item back (``audit:``),
and the profile may name calls for probes (top-level ``calls:``): see
:mod:`loadkit.users.profile.servicecalls`.
A job ``status`` may also read ``created``, ``started`` and ``completed`` (epoch
seconds or ISO 8601): the service's own timing, fired as ``JOB <kind> server``
(created → completed), ``JOB <kind> queue`` (created → started) and
``JOB <kind> run`` (started → completed) events.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadkit.scenario.yamldoc import FieldPath, YamlDoc, did_you_mean
from loadkit.users.profile.api import JOB_STATES, SESSION_STATES
from loadkit.users.profile.calls import Call, compile_query, env_names, placeholders

__all__ = [
    "CallKind",
    "read_call",
    "read_calls",
    "read_commands",
    "read_headers",
    "read_states",
    "read_template",
    "read_text",
]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CALL_KEYS = ("method", "path", "body", "expect", "headers")


@dataclass(frozen=True)
class CallKind:
    """What one named call of a section may hold."""

    method: str
    values: frozenset[str]  # placeholders it may use
    fields: tuple[str, ...] = ()  # JMESPath fields it may read
    required_fields: tuple[str, ...] = ()
    states: tuple[str, ...] = ()  # loadkit states its ``states:`` maps onto
    required_states: tuple[str, ...] = ()
    optional: bool = False


_ID = frozenset({"id", "workspace"})
_WRITE = frozenset({"id", "repo", "version", "title", "client_id", "written_at"})
SECTIONS: dict[str, dict[str, CallKind]] = {
    "jobs": {
        "submit": CallKind(
            "POST",
            frozenset({"workspace", "command", "timeout_ms", "client_id"}),
            ("id",),
            ("id",),
        ),
        "status": CallKind(
            "GET",
            _ID,
            ("state", "error", "created", "started", "completed"),
            ("state",),
            JOB_STATES,
            ("completed", "failed"),
        ),
        "output": CallKind("GET", _ID, ("output",), ("output",), optional=True),
        "interrupt": CallKind("POST", _ID, optional=True),
    },
    "sessions": {
        "activate": CallKind(
            "POST", frozenset({"client_id", "user_id", "project"}), ("id", "warm"), ("id",)
        ),
        "state": CallKind("GET", frozenset({"id"}), ("state",), (), SESSION_STATES, ("ready",)),
        "activity": CallKind("POST", frozenset({"id"}), optional=True),
        "close": CallKind("DELETE", frozenset({"id"}), optional=True),
    },
    "sync": {
        "create": CallKind(
            "POST", _WRITE - {"id", "version"}, ("id", "version", "repo"), ("id", "version")
        ),
        "update": CallKind("PUT", _WRITE, ("version",), ("version",)),
        "batch": CallKind(
            "POST",
            _WRITE,
            ("conflicts", "conflict_id", "strategy", "server_version", "applied"),
            ("conflicts", "conflict_id", "strategy"),
        ),
    },
}
# ``audit``: how the loss audit asks about an item (users/profile/servicecalls.py)
EXTRA_KEYS = {
    "jobs": ("commands", "audit"),
    "sessions": ("audit",),
    "sync": ("websocket", "strategy", "audit"),
}
JOB_COMMANDS = {
    "echo": {"text"},
    "bytes": {"size"},
    "set": {"var", "value"},
    "get": {"var"},
    "sleep": {"seconds"},
}


def read_text(doc: YamlDoc, value: Any, path: FieldPath, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(path, f"{value!r} is not text", f"write e.g. {example!r}")
    for name in env_names(value):
        if name not in os.environ:
            raise doc.error(
                path, f"environment variable {name} is not set", f"export {name}=... first"
            )
    return value


def read_template(doc: YamlDoc, value: Any, path: FieldPath, allowed: frozenset[str]) -> None:
    if isinstance(value, str):
        try:
            names = placeholders(value)
        except ValueError as exc:
            raise doc.error(path, f"bad template {value!r}: {exc}") from None
        unknown = sorted(names - allowed)
        if unknown:
            raise doc.error(
                path,
                f"unknown placeholder {{{unknown[0]}}} in {value!r}",
                f"use one of {', '.join('{' + n + '}' for n in sorted(allowed))}",
            )
        read_text(doc, value if value.strip() else "x", path, "{id}")
    elif isinstance(value, dict):
        for key, item in value.items():
            read_template(doc, item, (*path, str(key)), allowed)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            read_template(doc, item, (*path, index), allowed)


def _expect(doc: YamlDoc, value: Any, path: FieldPath) -> tuple[int, ...]:
    codes = value if isinstance(value, list) else [value]
    if not codes or not all(
        isinstance(c, int) and not isinstance(c, bool) and 100 <= c <= 599 for c in codes
    ):
        raise doc.error(path, f"{value!r} is not an HTTP status", "write e.g. '200' or [200, 201]")
    return tuple(codes)


def read_headers(doc: YamlDoc, value: Any, path: FieldPath) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, "must be a mapping", "write e.g. {Authorization: 'Bearer ${TOKEN}'}")
    return {str(k): read_text(doc, v, (*path, str(k)), "Bearer ${TOKEN}") for k, v in value.items()}


def read_states(doc: YamlDoc, value: Any, path: FieldPath, kind: CallKind) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise doc.error(path, "must map the service's states onto loadkit's",
                        f"write e.g. {{done: {kind.required_states[0]}}}")  # fmt: skip
    states = {}
    for raw, ours in value.items():
        if ours not in kind.states:
            raise doc.error(
                (*path, str(raw)),
                f"{ours!r} is not a loadkit state",
                did_you_mean(str(ours), kind.states) or f"use one of {', '.join(kind.states)}",
            )
        states[str(raw)] = str(ours)
    return states


def read_call(
    doc: YamlDoc, raw: Any, path: FieldPath, kind: CallKind, headers: Mapping[str, str]
) -> tuple[Call, dict[str, str]]:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict):
        raise doc.error(path, "must be a mapping", "write e.g. {method: GET, path: '/x/{id}'}")
    extra = ("states",) if kind.states else ()
    doc.check_keys(raw, CALL_KEYS + kind.fields + extra, path)
    method = str(raw.get("method", kind.method)).upper()
    if method not in METHODS:
        raise doc.error((*path, "method"), f"{method!r} is not an HTTP method",
                        f"use one of {', '.join(METHODS)}")  # fmt: skip
    if "path" not in raw:
        raise doc.error(path, "has no path", "write e.g. path: '/status/{id}'")
    target = read_text(doc, raw["path"], (*path, "path"), "/status/{id}")
    if not target.startswith("/"):
        raise doc.error((*path, "path"), f"{target!r} does not start with '/'")
    read_template(doc, target, (*path, "path"), kind.values)
    read_template(doc, raw.get("body"), (*path, "body"), kind.values)
    fields = {}
    for name in kind.fields:
        if name in raw:
            query = read_text(doc, raw[name], (*path, name), "data.id")
            try:
                fields[name] = compile_query(query)
            except ValueError as exc:
                raise doc.error((*path, name), str(exc), "see https://jmespath.org") from None
        elif name in kind.required_fields:
            raise doc.error(path, f"has no {name!r} field to read",
                            f"write e.g. {name}: {name}Field (a JMESPath query)")  # fmt: skip
    states: dict[str, str] = {}
    if kind.states:
        states = read_states(doc, raw.get("states"), (*path, "states"), kind)
        missing = [s for s in kind.required_states if s not in states.values()]
        if missing:
            raise doc.error((*path, "states"), f"no service state is mapped onto {missing[0]!r}",
                            f"add e.g. 'done: {missing[0]}'")  # fmt: skip
    expect = _expect(doc, raw.get("expect", 200), (*path, "expect"))
    call = Call(
        method,
        target,
        expect,
        raw.get("body"),
        {**headers, **read_headers(doc, raw.get("headers"), (*path, "headers"))},
        fields,
    )
    return call, states


def read_calls(
    doc: YamlDoc, section: str, raw: Any, path: FieldPath, headers: Mapping[str, str]
) -> dict[str, tuple[Call, dict[str, str]]]:
    """The calls of one section (``jobs``, ``sessions``), each with its state mapping."""
    kinds = SECTIONS[section]
    if not isinstance(raw, dict):
        raise doc.error(path, "must be a mapping of calls", f"give {', '.join(kinds)}")
    doc.check_keys(raw, (*kinds, *EXTRA_KEYS[section]), path)
    calls = {}
    for name, kind in kinds.items():
        if name in raw:
            calls[name] = read_call(doc, raw[name], (*path, name), kind, headers)
        elif not kind.optional:
            raise doc.error(path, f"has no {name!r} call", f"add {name}: {{path: ...}}")
    return calls


def read_commands(doc: YamlDoc, raw: Any, path: FieldPath) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise doc.error(
            path, "must map task commands to templates", "write e.g. {echo: 'echo {text}'}"
        )
    doc.check_keys(raw, JOB_COMMANDS, path)
    for name, template in raw.items():
        read_template(doc, read_text(doc, template, (*path, name), "echo {text}"), (*path, name),
                  frozenset(JOB_COMMANDS[name]))  # fmt: skip
    return {str(k): str(v) for k, v in raw.items()}
