"""Expect: each output check passes what it should and fails the rest with one line."""

from __future__ import annotations

import base64
import hashlib

import pytest

from loadkit.target.commands import deterministic_bytes
from loadkit.users import Expect
from loadkit.users.events import CheckFailed

RAW = deterministic_bytes(1024)
ENCODED = base64.b64encode(RAW).decode()
DIGEST = hashlib.sha256(RAW).hexdigest()


@pytest.mark.parametrize(
    ("expect", "output"),
    [
        (Expect(exact="a\nb"), "a\nb"),
        (Expect(contains="total"), 'report: {"total": 7}'),
        (Expect(json=True), '{"total": 7, "items": [null, true, 2.5]}'),
        (Expect(json=True), '"just a string"'),
        (Expect(base64=True, length=1024, sha256=DIGEST), ENCODED),
        (Expect(base64=True, length=1024, sha256=DIGEST.upper()), ENCODED),
        (Expect(length=5, sha256=hashlib.sha256("é€".encode()).hexdigest()), "é€"),
        (Expect(), "anything at all"),
    ],
)
def test_a_good_output_passes(expect: Expect, output: str) -> None:
    expect.check("job", output)


@pytest.mark.parametrize(
    ("expect", "output", "message"),
    [
        (Expect(exact="hello"), "hello\n", "echo: got 'hello\\n', expected 'hello'"),
        (Expect(contains="total"), "nothing here", "echo: output 'nothing here' does not contain"),
        (Expect(json=True), "plain text", "echo: output is not valid JSON (Expecting value"),
        (Expect(json=True), '{"a": 1', "echo: output is not valid JSON"),
        (Expect(base64=True, length=1024), "not base64!", "echo: output is not base64"),
        (Expect(base64=True, length=1024), ENCODED[:-4], "echo: got 1023 bytes, expected 1024"),
        (
            Expect(base64=True, length=1024, sha256=DIGEST),
            base64.b64encode(bytes(1024)).decode(),
            "echo: sha256 differs from the expected",
        ),
        (Expect(length=2), "é€", "echo: got 5 bytes, expected 2"),  # UTF-8 bytes, not characters
        (Expect(exact="x" * 500), "y" * 500, "echo: got 'yyyy"),
    ],
)
def test_a_wrong_output_fails_with_one_line(expect: Expect, output: str, message: str) -> None:
    with pytest.raises(CheckFailed) as caught:
        expect.check("echo", output)
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text and len(text) < 300, text
