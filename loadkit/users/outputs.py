"""What a job's output must be: :class:`Expect`, checked with one-line failure messages.

``Expect(json=True)`` (valid JSON), ``Expect(exact=text)``,
``Expect(contains="ok")``, ``Expect(base64=True, length=n, sha256=hexdigest)`` (the bytes the
base64 text decodes to; without ``base64`` the UTF-8 bytes of the text). Fields
left unset are not checked; set ones are checked in that order and the first
that fails raises :class:`~loadkit.users.events.CheckFailed`, so the job is a
Locust failure and the user goes on. :meth:`loadkit.users.jobs.JobUser.job`
takes one.
"""

from __future__ import annotations

import base64 as b64
import binascii
import hashlib
import json as jsonlib
from dataclasses import dataclass

from loadkit.users.events import CheckFailed

__all__ = ["Expect"]


def _short(text: str, limit: int = 60) -> str:
    """``repr`` (one line: newlines escaped), cut to ``limit`` characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


@dataclass(frozen=True)
class Expect:
    """What a job's output must be; every field left unset is not checked."""

    json: bool = False  # parses as JSON
    exact: str | None = None  # the whole output
    contains: str | None = None  # a part of it
    base64: bool = False  # length and sha256 are of the bytes it decodes to
    length: int | None = None  # bytes
    sha256: str | None = None  # hex digest

    def check(self, what: str, output: str) -> None:
        """Raise CheckFailed (``"WHAT: ..."``, one line) at the first unmet expectation."""
        if self.json:
            try:
                jsonlib.loads(output)
            except ValueError as exc:
                raise CheckFailed(
                    f"{what}: output is not valid JSON ({exc}): {_short(output)}"
                ) from None
        if self.exact is not None and output != self.exact:
            raise CheckFailed(f"{what}: got {_short(output)}, expected {_short(self.exact)}")
        if self.contains is not None and self.contains not in output:
            raise CheckFailed(
                f"{what}: output {_short(output)} does not contain {_short(self.contains)}"
            )
        if self.length is None and self.sha256 is None and not self.base64:
            return
        if self.base64:
            try:
                raw = b64.b64decode(output, validate=True)
            except (binascii.Error, ValueError):
                raise CheckFailed(f"{what}: output is not base64: {_short(output)}") from None
        else:
            raw = output.encode()
        if self.length is not None and len(raw) != self.length:
            raise CheckFailed(f"{what}: got {len(raw)} bytes, expected {self.length}")
        if self.sha256 is not None and hashlib.sha256(raw).hexdigest() != self.sha256.lower():
            raise CheckFailed(f"{what}: sha256 differs from the expected {self.sha256[:12]}...")
