# ruff: noqa: E501  (a table of one-line profile mistakes and their one-line messages)
"""A bad profile is one line naming file, line and field (exit 2 through ConfigError)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.errors import EXIT_BAD_INPUT, ConfigError
from loadkit.users.profile.loader import load_profile, shipped

GOOD_STATUS = "  status: {path: '/s/{id}', state: s, states: {ok: completed, ko: failed}}\n"
GOOD_SUBMIT = "  submit: {path: /run, id: id}\n"


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    load_profile.cache_clear()
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    assert caught.value.exit_code == EXIT_BAD_INPUT
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    return message[len(str(path)) :]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobs:\n" + GOOD_SUBMIT + GOOD_STATUS + "  statuss: {}\n", ":4: jobs.statuss: unknown key; did you mean 'status'?"),
        ("jobs:\n  submit: {path: '/run/{nope}', id: id}\n" + GOOD_STATUS, ":2: jobs.submit.path: unknown placeholder {nope}"),
        ("jobs:\n  submit: {path: 'run', id: id}\n" + GOOD_STATUS, ":2: jobs.submit.path: 'run' does not start with '/'"),
        ("jobs:\n  submit: {path: /run, id: 'a[?'}\n" + GOOD_STATUS, ":2: jobs.submit.id: 'a[?' is not a JMESPath query"),
        ("jobs:\n" + GOOD_SUBMIT + "  status: {path: '/s/{id}', state: s, states: {ok: completed}}\n", ":3: jobs.status.states: no service state is mapped onto 'failed'"),
        ("jobs:\n" + GOOD_SUBMIT + "  status: {path: '/s/{id}', state: s, states: {ok: done, ko: failed}}\n", ":3: jobs.status.states.ok: 'done' is not a loadkit state"),
        ("jobs:\n  submit: {path: /run}\n" + GOOD_STATUS, ":2: jobs.submit: has no 'id' field to read"),
        ("jobs:\n" + GOOD_SUBMIT + GOOD_STATUS + "  commands: {echo: 'say {words}'}\n", ":4: jobs.commands.echo: unknown placeholder {words}"),
        ("headers: {X-Token: '${LK_SURELY_UNSET_VAR}'}\njobs:\n" + GOOD_SUBMIT + GOOD_STATUS, ":1: headers.X-Token: environment variable LK_SURELY_UNSET_VAR is not set"),
        ("sessions:\n  activate: {path: /a, id: id}\n", ":1: sessions: has no 'state' call"),
    ],
)  # fmt: skip
def test_each_mistake_names_its_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text).startswith(expected)


def test_an_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile("no-such-profile")
    assert "camel-gateway" in str(caught.value) and "builtin" in str(caught.value)


def test_every_shipped_profile_loads() -> None:
    for name in shipped():
        assert load_profile(name).reference == name
