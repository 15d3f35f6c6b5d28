"""The checked HTTP call: one Locust request whose bad answer is a failure.

:func:`call_json` sends one request with Locust's ``FastHttpUser`` client,
marks it failed (with a one-line message) when the status is not the expected
one or the answer is not a JSON object, and raises :class:`CheckFailed` so the
task that made it can stop and report its own, higher-level event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

from loadkit.users.events import CheckFailed

__all__ = ["HttpClient", "call_json"]

JsonObject = dict[str, Any]


class HttpClient(Protocol):
    """What is needed of a Locust HTTP client (``FastHttpSession`` or ``HttpSession``)."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


def _detail(resp: Any) -> str:
    text = resp.text or str(getattr(resp, "error", "") or "")
    return str(text)[:160].replace("\n", " ")


def call_json(
    client: HttpClient,
    method: str,
    path: str,
    *,
    name: str,
    expect: int | Collection[int] = 200,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    shown: str | None = None,
) -> JsonObject:
    """``method path`` as the request ``name``; the answer's JSON object (``{}`` if empty).

    Raises :class:`CheckFailed` (the request already counted as failed) on an
    unexpected status, an answer that is not JSON, or JSON that is not an object.
    ``shown`` replaces ``method path`` in messages (a template hides ids and secrets).
    """
    what = shown or f"{method} {path}"
    wanted = (expect,) if isinstance(expect, int) else tuple(expect)
    extra: dict[str, Any] = {"headers": dict(headers)} if headers else {}
    with client.request(method, path, name=name, json=body, catch_response=True, **extra) as resp:
        if resp.status_code not in wanted:
            codes = "/".join(str(code) for code in wanted)
            message = f"{what}: HTTP {resp.status_code}, expected {codes}: {_detail(resp)}"
            resp.failure(message)
            raise CheckFailed(message)
        if not resp.text:
            resp.success()
            return {}
        try:
            data = resp.json()
        except ValueError:
            message = f"{what}: the answer is not JSON"
            resp.failure(message)
            raise CheckFailed(message) from None
        if not isinstance(data, dict):
            message = f"{what}: the answer is not a JSON object"
            resp.failure(message)
            raise CheckFailed(message)
        resp.success()
        return data
