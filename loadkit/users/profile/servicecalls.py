"""A profile's calls that ask the service about itself: the loss audit's and the probes'.

The loss audit asks the service what became of each accepted item through
an ``audit:`` call of the item's section::

    jobs:
      audit:                       # optional: without it, the 'status' call is used
        path: "/status/{id}"       # placeholders: {id} {workspace}
        state: state               # JMESPath; without it the HTTP status is the state
        states: {done: completed}  # default: the status call's mapping
        end: [completed, failed, timeout, interrupted]   # loadkit states that are its end
        ended: completedAt         # when it got there (epoch seconds or ISO 8601), optional
        applied: runs              # how many times the service ran it, optional
        gone: [404, 410]           # statuses that mean "the service does not know it"
    sessions:
      audit: {...}                 # same keys, placeholder {id}; default: the 'state' call,
                                   # end [ready, idle, expired, closed]
    sync:
      audit: {path: "/api/tasks/{id}", version: version, applied: writes}
                                   # placeholders {id} {repo} {version}; no default

``audit: false`` says the service cannot be asked (that kind is "not
audited"). A section without a way to ask (``sync:`` without ``audit:``) is
"not audited" with the reason, never "0 lost". ``gone`` wins over ``states``
(a session service whose 404 maps to ``failed`` still reads 404 as gone).

Probes may name a call of the profile's top-level ``calls:`` (no placeholders;
the profile's headers and ``${ENV}`` secrets apply)::

    calls:
      health: {path: /api/health}
      queue: {method: POST, path: /admin/query, body: {q: depth}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadkit.scenario.yamldoc import FieldPath, YamlDoc, did_you_mean
from loadkit.users.profile.api import JOB_STATES, JOB_TERMINAL, SESSION_STATES
from loadkit.users.profile.calls import Call
from loadkit.users.profile.spec import CALL_KEYS, CallKind, read_call, read_states

__all__ = ["AuditSpec", "default_audit", "read_audit", "read_named_calls"]

AUDIT_EXTRA = ("states", "end", "gone")
_AUDIT_KINDS = {
    "jobs": CallKind("GET", frozenset({"id", "workspace"}), ("state", "ended", "applied")),
    "sessions": CallKind("GET", frozenset({"id"}), ("state", "ended", "applied")),
    "sync": CallKind(
        "GET", frozenset({"id", "repo", "version"}), ("version", "applied"), ("version",)
    ),
}
_STATES: dict[str, tuple[str, ...]] = {"jobs": JOB_STATES, "sessions": SESSION_STATES}
DEFAULT_END: dict[str, frozenset[str]] = {
    "jobs": JOB_TERMINAL,
    "sessions": frozenset({"ready", "idle", "expired", "closed"}),
}
DEFAULT_GONE = (404,)
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class AuditSpec:
    """How the loss audit asks about one accepted item of a kind (``jobs``, ``sessions``, ``sync``).

    ``states`` maps the service's states (or HTTP statuses, when ``by_status``)
    onto loadkit's; ``end`` are the loadkit states that count as the item's end.
    ``sync`` has no states: a write is kept when the read ``version`` is at
    least the written one.
    """

    kind: str
    call: Call
    states: Mapping[str, str]
    end: frozenset[str]
    gone: tuple[int, ...] = DEFAULT_GONE

    @property
    def by_status(self) -> bool:
        return self.kind != "sync" and "state" not in self.call.fields


def _codes(doc: YamlDoc, value: Any, path: FieldPath) -> tuple[int, ...]:
    codes = value if isinstance(value, list) else [value]
    if not codes or not all(
        isinstance(c, int) and not isinstance(c, bool) and 400 <= c <= 499 for c in codes
    ):
        raise doc.error(path, f"{value!r} is not a list of 4xx statuses", "write e.g. [404, 410]")
    return tuple(codes)


def _end(doc: YamlDoc, value: Any, path: FieldPath, states: tuple[str, ...]) -> frozenset[str]:
    names = value if isinstance(value, list) else [value]
    if not names:
        raise doc.error(path, "is empty", f"name the states that are the end, e.g. [{states[2]}]")
    for name in names:
        if name not in states:
            fix = did_you_mean(str(name), states) or f"use some of {', '.join(states)}"
            raise doc.error(path, f"{name!r} is not a loadkit state", fix)
    return frozenset(str(n) for n in names)


def read_audit(
    doc: YamlDoc,
    section: str,
    raw: Any,
    path: FieldPath,
    headers: Mapping[str, str],
    default: AuditSpec | str,
) -> AuditSpec | str:
    """A section's ``audit:`` call (or its reason not to audit), checked with file:line."""
    if raw is False:
        return f"the profile says the service cannot be asked about {section} ({section}.audit)"
    if isinstance(raw, str):
        raw = {"path": raw}
    kind = _AUDIT_KINDS[section]
    states_of = _STATES.get(section, ())
    extra = AUDIT_EXTRA if states_of else ("gone",)
    if not isinstance(raw, dict):
        raise doc.error(path, "must be a mapping (or false)", "write e.g. {path: '/status/{id}'}")
    doc.check_keys(raw, CALL_KEYS + kind.fields + extra, path)
    call, _ = read_call(doc, {k: v for k, v in raw.items() if k not in extra}, path, kind, headers)
    gone = _codes(doc, raw["gone"], (*path, "gone")) if "gone" in raw else DEFAULT_GONE
    if not states_of:
        return AuditSpec(section, call, {}, frozenset(), gone)
    end = DEFAULT_END[section]
    if "end" in raw:
        end = _end(doc, raw["end"], (*path, "end"), states_of)
    if "states" in raw:
        with_states = CallKind("GET", kind.values, states=states_of, required_states=(min(end),))
        states = read_states(doc, raw["states"], (*path, "states"), with_states)
    elif isinstance(default, AuditSpec):
        states = dict(default.states)
    else:
        raise doc.error(path, "has no 'states'", "map the service's states, e.g. {done: ...}")
    if not any(ours in end for ours in states.values()):
        raise doc.error((*path, "states"), "no state is mapped onto an end state",
                        f"map one onto {', '.join(sorted(end))}")  # fmt: skip
    spec = AuditSpec(section, call, states, end, gone)
    if spec.by_status and not any(code.isdigit() for code in states):
        raise doc.error(path, "reads no 'state' and its states are not HTTP statuses",
                        "add state: FIELD (a JMESPath query)")  # fmt: skip
    return spec


def default_audit(
    section: str, calls: Mapping[str, tuple[Call, Mapping[str, str]]]
) -> AuditSpec | str:
    """The audit of a section without ``audit:``: its status/state call, or why there is none."""
    if section == "jobs":
        status, states = calls["status"]
        fields = {"state": status.fields["state"]}
        if "completed" in status.fields:
            fields["ended"] = status.fields["completed"]
        call = Call(status.method, status.path, status.expect, status.body, status.headers, fields)
        return AuditSpec("jobs", call, dict(states), DEFAULT_END["jobs"])
    if section == "sessions":
        state, states = calls["state"]
        fields = {"state": state.fields["state"]} if "state" in state.fields else {}
        call = Call(state.method, state.path, state.expect, state.body, state.headers, fields)
        return AuditSpec("sessions", call, dict(states), DEFAULT_END["sessions"])
    return (
        f"the profile has no {section}.audit call to read a {section} item back "
        f"(add e.g. audit: {{path: '/tasks/{{id}}', version: version}})"
    )


def read_named_calls(
    doc: YamlDoc, raw: Any, path: FieldPath, headers: Mapping[str, str]
) -> dict[str, Call]:
    """The top-level ``calls:`` (for probes): name → call without placeholders."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise doc.error(
            path, "must map call names to calls", "write e.g. {health: {path: /health}}"
        )
    kind = CallKind("GET", frozenset())
    calls = {}
    for name, item in raw.items():
        if not _NAME_RE.match(str(name)):
            raise doc.error((*path, str(name)), f"{name!r} is not a call name",
                            "use letters, digits, '-' or '_'")  # fmt: skip
        calls[str(name)], _ = read_call(doc, item, (*path, str(name)), kind, headers)
    return calls
