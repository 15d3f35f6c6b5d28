"""Asking any service through its profile: which auditor looks at a recorded item.

A record made through the built-in adapters (``"api": "builtin"``) is looked
at by :mod:`loadkit.audit.builtin`. A record made through a YAML profile's
adapter carries the profile's reference (``"profile": "camel-gateway"``); the
profile's ``audit:`` call of that kind (:mod:`loadkit.users.profile.servicecalls`)
asks for it, with the profile's headers and secrets. Anything else (a Python
adapter, a profile that cannot be loaded any more, a section that cannot be
asked) has no auditor, and :func:`Auditors.auditor` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from loadkit.audit.builtin import BUILTIN_AUDITORS, KindAuditor, Look
from loadkit.audit.record import BUILTIN_API
from loadkit.errors import ConfigError
from loadkit.units import epoch_seconds
from loadkit.users.profile.servicecalls import AuditSpec

__all__ = ["Auditors", "ProfileAuditor"]

_VALUES = ("workspace", "repo", "version")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ProfileAuditor:
    """A :class:`~loadkit.audit.builtin.KindAuditor` from a profile's ``audit:`` call."""

    def __init__(self, spec: AuditSpec) -> None:
        self.spec = spec

    def look(self, client: httpx.Client, item: dict[str, Any]) -> Look:
        spec, call = self.spec, self.spec.call
        values = {"id": item["id"], **{k: item[k] for k in _VALUES if k in item}}
        path, headers, body = call.prepare(values)
        try:
            response = client.request(call.method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            return Look("unreachable", detail=f"{type(exc).__name__}: {exc}".rstrip(": "))
        code = response.status_code
        if code in spec.gone:
            if spec.kind == "sessions" and item.get("closed"):
                return Look("end", "closed", detail="closed by the client")
            return Look("gone", detail=f"the service does not know it (HTTP {code})")
        if spec.by_status:
            raw = str(code)
            if raw not in spec.states:
                return Look("unreachable", detail=f"HTTP {code} is not in the profile's states")
            return self._state(raw, {})
        if code not in call.expect:
            return Look("unreachable", detail=f"HTTP {code}, expected one of {call.expect}")
        try:
            data = response.json()
        except ValueError:
            return Look("unreachable", detail="the answer is not JSON")
        if not isinstance(data, dict):
            return Look("unreachable", detail="the answer is not a JSON object")
        if spec.kind == "sync":
            return self._write(item, data)
        return self._state(str(call.read(data, "state")), data)

    def _applied(self, data: Mapping[str, Any]) -> int | None:
        return _int(self.spec.call.read(data, "applied"))

    def _state(self, raw: str, data: Mapping[str, Any]) -> Look:
        ours = self.spec.states.get(raw)
        if ours is None:
            return Look("unreachable", raw, detail=f"state {raw!r} is not in the profile's states")
        applied = self._applied(data)
        if ours in self.spec.end:
            ended = epoch_seconds(self.spec.call.read(data, "ended"))
            return Look("end", raw, ended, applied)
        return Look("pending", raw, applied=applied)

    def _write(self, item: dict[str, Any], data: Mapping[str, Any]) -> Look:
        version, wanted = _int(self.spec.call.read(data, "version")), _int(item.get("version"))
        if version is None:
            return Look("unreachable", detail="the answer has no version")
        if wanted is not None and version < wanted:
            return Look("gone", f"v{version}", detail=f"version {version} < written {wanted}")
        return Look("end", f"v{version}", applied=self._applied(data))


class Auditors:
    """The auditor of each record, or the reason there is none.

    ``profile``: a profile reference that replaces the recorded one (``loadkit
    audit --profile``), also for work made through a Python adapter.
    """

    def __init__(
        self,
        builtin: Mapping[str, KindAuditor] | None = None,
        profile: str | None = None,
    ) -> None:
        self.builtin = BUILTIN_AUDITORS if builtin is None else builtin
        self.profile = profile
        self._profiles: dict[str, Mapping[str, AuditSpec | str] | str] = {}
        self._auditors: dict[int, ProfileAuditor] = {}  # by id(): specs hold mappings

    def _audits(self, reference: str) -> Mapping[str, AuditSpec | str] | str:
        if reference not in self._profiles:
            from loadkit.users.profile.loader import load_profile

            try:
                self._profiles[reference] = load_profile(reference).audit
            except ConfigError as exc:
                self._profiles[reference] = f"cannot load the profile {reference}: {exc}"
        return self._profiles[reference]

    def auditor(self, record: Mapping[str, Any]) -> KindAuditor | str:
        kind, api = str(record["kind"]), str(record.get("api", BUILTIN_API))
        reference = self.profile or record.get("profile")
        if api == BUILTIN_API and not self.profile:
            return self.builtin.get(kind) or f"no auditor for {kind}"
        if not isinstance(reference, str) or not reference:
            return (
                f"made through {api}, not a YAML profile: the audit cannot ask it "
                "(loadkit audit RUN_DIR --profile PROFILE)"
            )
        audits = self._audits(reference)
        if isinstance(audits, str):
            return audits
        spec = audits.get(kind)
        if spec is None:
            if api == BUILTIN_API:  # the profile leaves this section to the built-in one
                return self.builtin.get(kind) or f"no auditor for {kind}"
            return f"the profile {reference} does not describe {kind}"
        if isinstance(spec, str):
            return f"{spec} [{reference}]"
        return self._auditors.setdefault(id(spec), ProfileAuditor(spec))
