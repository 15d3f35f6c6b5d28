"""Finding and loading a service profile: ``builtin``, a shipped name, a file, a scenario's section.

A profile reference is what ``--user-profile`` holds and what loadkit records
(never the expanded secrets):

- ``builtin``: the reference target (the default), written in Python;
- a shipped profile's name (``camel-gateway``: ``loadkit/users/profiles/*.yaml``);
- a path to a profile file;
- ``path/to/scenario.yaml#service``: a scenario's inline ``service:`` section.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadkit.errors import ConfigError, ScenarioError
from loadkit.scenario.yamldoc import FieldPath, YamlDoc
from loadkit.users.args import WebArguments, setting
from loadkit.users.profile.api import JobAPI, SessionAPI, SyncAPI
from loadkit.users.profile.builtin import BuiltinJobs, BuiltinSessions
from loadkit.users.profile.builtin_sync import BuiltinSync
from loadkit.users.profile.calls import Call, YamlAdapter
from loadkit.users.profile.servicecalls import (
    AuditSpec,
    default_audit,
    read_audit,
    read_named_calls,
)
from loadkit.users.profile.spec import read_calls, read_commands, read_headers
from loadkit.users.profile.yamlapi import YamlJobs, YamlSessions
from loadkit.users.profile.yamlsync import read_sync

if TYPE_CHECKING:
    from locust.env import Environment

__all__ = [
    "BUILTIN",
    "PROFILES_DIR",
    "Profile",
    "add_profile_argument",
    "load_profile",
    "profile_for",
    "profile_reference",
    "shipped",
]

BUILTIN = "builtin"
PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
TOP_KEYS = ("name", "description", "headers", "calls", "jobs", "sessions", "sync")
SECTIONS = ("jobs", "sessions", "sync")


@dataclass(frozen=True)
class Profile:
    """One adapter per behaviour (the built-in one where the profile does not describe it).

    ``audit``: per section the profile describes, how the loss audit asks about
    an item (or why it cannot); ``calls``: the named calls probes may make.
    """

    reference: str
    jobs: JobAPI
    sessions: SessionAPI
    sync: SyncAPI
    audit: Mapping[str, AuditSpec | str] = field(default_factory=dict)
    calls: Mapping[str, Call] = field(default_factory=dict)


def shipped() -> list[str]:
    """Names of the profiles that ship with loadkit."""
    return [BUILTIN, *sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))]


def _locate(reference: str) -> tuple[Path, str | None]:
    path_text, _, section = reference.partition("#")
    path = Path(path_text).expanduser()
    if not path.suffix and "/" not in path_text:
        candidate = PROFILES_DIR / f"{path_text}.yaml"
        if not candidate.is_file():
            raise ScenarioError(
                f"no profile named {path_text!r}",
                field="service",
                fix=f"use one of {', '.join(shipped())} or a profile file's path",
            )
        path = candidate
    return path, section or None


def read_profile(doc: YamlDoc, raw: Any, path: FieldPath, reference: str) -> Profile:
    """A profile from a parsed mapping (a file's top level or a scenario's ``service:``)."""
    if not isinstance(raw, dict):
        raise doc.error(path, "must be a mapping with jobs:, sessions: and/or sync:",
                        "see loadkit/users/profile/spec.py")  # fmt: skip
    doc.check_keys(raw, TOP_KEYS, path)
    if not any(section in raw for section in SECTIONS):
        raise doc.error(path, "describes none of jobs:, sessions:, sync:", "add at least one")
    headers = read_headers(doc, raw.get("headers"), (*path, "headers"))
    jobs: JobAPI = BuiltinJobs()
    sessions: SessionAPI = BuiltinSessions()
    sync: SyncAPI = BuiltinSync()
    audit: dict[str, AuditSpec | str] = {}

    def audit_of(section: str, calls: Mapping[str, tuple[Call, Mapping[str, str]]]) -> None:
        default = default_audit(section, calls)
        given = raw[section].get("audit")
        audit[section] = (
            default
            if given is None
            else read_audit(doc, section, given, (*path, section, "audit"), headers, default)
        )

    if "jobs" in raw:
        section = raw["jobs"]
        calls = read_calls(doc, "jobs", section, (*path, "jobs"), headers)
        commands = read_commands(doc, section.get("commands"), (*path, "jobs", "commands"))
        jobs = YamlJobs(calls, commands)
        audit_of("jobs", calls)
    if "sessions" in raw:
        session_calls = read_calls(doc, "sessions", raw["sessions"], (*path, "sessions"), headers)
        sessions = YamlSessions(session_calls)
        audit_of("sessions", session_calls)
    if "sync" in raw:
        sync = read_sync(doc, raw["sync"], (*path, "sync"), headers)
        audit_of("sync", {})
    for adapter in (jobs, sessions, sync):
        if isinstance(adapter, YamlAdapter):
            adapter.profile_reference = reference
    calls_ = read_named_calls(doc, raw.get("calls"), (*path, "calls"), headers)
    return Profile(reference, jobs, sessions, sync, audit, calls_)


@cache
def load_profile(reference: str) -> Profile:
    """The profile ``reference`` names; ScenarioError (exit 2, file:line: field) if bad."""
    if reference in ("", BUILTIN):
        return Profile(BUILTIN, BuiltinJobs(), BuiltinSessions(), BuiltinSync())
    path, section = _locate(reference)
    doc = YamlDoc(path, str(path))
    raw = doc.data
    field: FieldPath = ()
    if section is not None:
        if not isinstance(raw, dict) or section not in raw:
            raise ScenarioError(f"no {section!r} section", source=str(path))
        raw, field = raw[section], (section,)
    return read_profile(doc, raw, field, reference)


def profile_for(environment: Environment) -> Profile:
    """The profile a run's ``--user-profile`` names (``builtin`` by default)."""
    return load_profile(str(setting(environment, "user_profile", BUILTIN) or BUILTIN))


def profile_reference(text: str) -> str:
    """argparse ``type=`` for ``--user-profile``: the reference, checked by loading it."""
    try:
        load_profile(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text  # kept as text: the web UI edits it, the run records it


def add_profile_argument(group: WebArguments) -> None:
    """``--user-profile`` (once, however many user modules ask for it)."""
    if "--user-profile" in group.parser._option_string_actions:
        return
    group.add_argument(
        "--user-profile",
        type=profile_reference,
        default=BUILTIN,
        help="service profile the users speak: builtin, a shipped name ("
        + ", ".join(shipped()[1:])
        + "), a profile file, or scenario.yaml#service",
    )
