"""App-level faults through HTTP calls.

- ``app-error`` / ``app-latency``: the reference target's ``POST /admin/faults``
  (``{path?, error_rate, status}`` / ``{path?, latency_ms}``), reverted by
  ``DELETE /admin/faults`` (``?path=`` when the fault named one). ``url`` is the
  service's base URL; it defaults to the gateway's URL in ``target.json``
  (``--loadkit-target-info``, so the call bypasses a fault proxy), else the
  run's ``--host``.
  A fault with ``for:`` carries it as ``for_s``: the target clears the fault
  by itself when it expires, even if the run that set it was killed.
- ``request``: a generic call for a user's own service: ``method``, ``url``,
  ``json``, ``headers`` to inject, and an optional ``revert: {method, url,
  json, headers}`` to undo it. A ``url`` that is a path (``/admin/mode``) is
  joined to the same base URL as the app-level faults (the built-in target's
  gateway, else the run's ``--host``), so it works with a random port.

``${NAME}`` in a URL, header or body is replaced by the environment variable
at the moment of the call only: specs, events and the journal keep the
reference, never the secret. Any status of 400 or more, or no answer, is a
:class:`FaultError` (its message is redacted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext, FaultBackend
from loadkit.faults.model import FaultSpec
from loadkit.safety.redact import MASK, expand_env, install_log_filter, redact_text

install_log_filter()  # httpx logs every request URL at INFO

__all__ = ["HttpBackend"]

TIMEOUT_S = 10.0


class HttpBackend(FaultBackend):
    """Calls an HTTP admin API to switch app-level faults on and off."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context

    def _base_url(self, spec: FaultSpec) -> str:
        given = spec.params.get("url") if spec.kind != "request" else None
        url = given or _gateway_url(self.context.target_info) or self.context.host
        if not url:
            raise FaultError(f"fault {spec.name}: no url and no --host to send it to")
        return str(url).rstrip("/")

    def _url(self, spec: FaultSpec, url: str) -> str:
        return f"{self._base_url(spec)}{url}" if url.startswith("/") else url

    def describe(self, spec: FaultSpec) -> str:
        p = spec.params
        if spec.kind == "request":
            undo = p.get("revert")
            tail = f"; revert: {undo['method']} {redact_text(undo['url'])}" if undo else ""
            return f"{p['method']} {redact_text(p['url'])}{tail}"
        where = p.get("path") or "all routes"
        if spec.kind == "app-error":
            return f"{p['error_rate']:.0%} of {where} answer {p['status']}"
        return f"{where} answer {p['latency'] * 1000:.0f} ms later"

    def inject(self, spec: FaultSpec) -> None:
        p = spec.params
        if spec.kind == "request":
            _call(p["method"], self._url(spec, p["url"]), p.get("json"), p.get("headers"))
            return
        body: dict[str, Any] = {}
        if p.get("path"):
            body["path"] = p["path"]
        if spec.kind == "app-error":
            body.update(error_rate=p["error_rate"], status=p["status"])
        else:
            body["latency_ms"] = round(p["latency"] * 1000)
        if spec.for_s is not None and spec.for_s > 0:
            body["for_s"] = spec.for_s  # the target clears it itself if nobody else does
        _call("POST", f"{self._base_url(spec)}/admin/faults", body)

    def revert(self, spec: FaultSpec) -> None:
        p = spec.params
        if spec.kind == "request":
            undo = p.get("revert")
            if undo:
                url = self._url(spec, undo["url"])
                _call(undo["method"], url, undo.get("json"), undo.get("headers"))
            return
        query = {"path": p["path"]} if p.get("path") else None
        _call("DELETE", f"{self._base_url(spec)}/admin/faults", None, params=query)


def _gateway_url(target_info: str | None) -> str | None:
    """The gateway's own URL from target.json: admin calls bypass any fault proxy."""
    if not target_info:
        return None
    try:
        url = json.loads(Path(target_info).read_text(encoding="utf-8"))["gateway"]["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(url) if url else None


def _call(
    method: str,
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> None:
    shown = redact_text(url)
    if MASK in repr((url, body, headers)):
        raise FaultError(
            f"{method} {shown}: a secret of this fault was not stored "
            "(write it as ${ENV} so it can be replayed)"
        )
    try:
        response = httpx.request(
            method,
            expand_env(url),
            json=expand_env(body),
            headers=expand_env(headers),
            params=params,
            timeout=TIMEOUT_S,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise FaultError(
            f"{method} {shown}: {redact_text(str(exc)) or type(exc).__name__}"
        ) from None
    if response.status_code >= 400:
        text = redact_text(response.text[:200])
        raise FaultError(f"{method} {shown}: HTTP {response.status_code} {text!r}")
