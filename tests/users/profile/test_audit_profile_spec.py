# ruff: noqa: E501  (a table of one-line profile mistakes and their one-line messages)
"""A profile's ``audit:`` calls: their defaults, what each says, and a mistake in one is
one line naming file, line and field (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.errors import EXIT_BAD_INPUT, ConfigError
from loadkit.users.profile.loader import load_profile
from loadkit.users.profile.servicecalls import AuditSpec

JOBS = (
    "jobs:\n"
    "  submit: {path: /run, id: id}\n"
    "  status: {path: '/s/{id}', state: s, completed: doneAt, states: {ok: completed, ko: failed, go: running}}\n"
)
SYNC = (
    "sync:\n"
    "  websocket: {path: /ws, subscribe: {t: s}, kinds: {c: task.created}, type: t, repo: r, task: id}\n"
    "  create: {path: /t, id: id, version: v}\n"
    "  update: {method: PUT, path: '/t/{id}', version: v}\n"
    "  batch: {path: /b, conflicts: c, conflict_id: id, strategy: s}\n"
)


def load(tmp_path: Path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    load_profile.cache_clear()
    return load_profile(str(path))


def test_defaults_come_from_the_status_and_state_calls_and_sync_needs_its_own(tmp_path):
    profile = load(tmp_path, JOBS + SYNC)
    jobs = profile.audit["jobs"]
    assert isinstance(jobs, AuditSpec)
    assert (jobs.call.path, sorted(jobs.call.fields), jobs.gone) == (
        "/s/{id}",
        ["ended", "state"],
        (404,),
    )
    assert dict(jobs.states) == {"ok": "completed", "ko": "failed", "go": "running"}
    assert "completed" in jobs.end and "running" not in jobs.end
    assert isinstance(profile.audit["sync"], str) and "sync.audit" in profile.audit["sync"]
    assert "sessions" not in profile.audit  # left to the built-in adapter and its auditor
    hermes = load_profile("hermes-sessions").audit["sessions"]
    assert isinstance(hermes, AuditSpec) and hermes.by_status and hermes.states["200"] == "ready"


def test_an_audit_call_says_its_own_states_end_gone_and_applied(tmp_path):
    text = (
        JOBS
        + (
            "  audit: {path: '/jobs/{workspace}/{id}', state: phase, states: {DONE: completed, RUN: running},\n"
            "          end: [completed], gone: [404, 410], ended: at, applied: runs}\n"
        )
        + SYNC
        + "  audit: {path: '/t/{repo}/{id}', version: v, applied: writes}\n"
    )
    profile = load(tmp_path, text)
    jobs, sync = profile.audit["jobs"], profile.audit["sync"]
    assert isinstance(jobs, AuditSpec) and isinstance(sync, AuditSpec)
    assert (jobs.end, jobs.gone, dict(jobs.states)) == (
        frozenset({"completed"}),
        (404, 410),
        {"DONE": "completed", "RUN": "running"},
    )
    assert sorted(jobs.call.fields) == ["applied", "ended", "state"]
    assert sorted(sync.call.fields) == ["applied", "version"] and not sync.by_status
    assert jobs.call.prepare({"id": "a/b", "workspace": "w"})[0] == "/jobs/w/a%2Fb"


def test_audit_false_says_the_service_cannot_be_asked(tmp_path):
    profile = load(tmp_path, JOBS + "  audit: false\n")
    assert (
        profile.audit["jobs"]
        == "the profile says the service cannot be asked about jobs (jobs.audit)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (JOBS + "  audit: {path: '/s/{nope}', state: s}\n", ":4: jobs.audit.path: unknown placeholder {nope}"),
        (JOBS + "  audit: {path: '/s/{id}', state: s, end: [finished]}\n", ":4: jobs.audit.end: 'finished' is not a loadkit state"),
        (JOBS + "  audit: {path: '/s/{id}', state: s, gone: [500]}\n", ":4: jobs.audit.gone: [500] is not a list of 4xx statuses"),
        (JOBS + "  audit: {path: '/s/{id}', state: s, states: {x: running}}\n", ":4: jobs.audit.states: no state is mapped onto an end state"),
        (JOBS + "  audit: {path: '/s/{id}', stat: s}\n", ":4: jobs.audit.stat: unknown key; did you mean 'state'?"),
        (JOBS + "  audit: {path: '/s/{id}', state: 'a[?'}\n", ":4: jobs.audit.state: 'a[?' is not a JMESPath query"),
        (JOBS + "  audit: {path: '/s/{id}', states: {ok: completed}}\n", ":4: jobs.audit: reads no 'state' and its states are not HTTP statuses"),
        (JOBS + "  audit: 3\n", ":4: jobs.audit: must be a mapping (or false)"),
        (JOBS + SYNC + "  audit: {path: '/t/{id}'}\n", ":9: sync.audit: has no 'version' field to read"),
        (JOBS + SYNC + "  audit: {path: '/t/{id}', version: v, end: [x]}\n", ":9: sync.audit.end: unknown key"),
        ("calls: {'bad name': {path: /h}}\n" + JOBS, ":1: calls.bad name: 'bad name' is not a call name"),
        ("calls: {h: {path: '/h/{id}'}}\n" + JOBS, ":1: calls.h.path: unknown placeholder {id}"),
    ],
)  # fmt: skip
def test_each_mistake_names_its_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    load_profile.cache_clear()
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    assert caught.value.exit_code == EXIT_BAD_INPUT
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    assert message[len(str(path)) :].startswith(expected), message
