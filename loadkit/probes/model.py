"""The ``probes:`` section of a scenario: what to sample of the service's own state.

A probe is a name, an HTTP GET (or a call of the service profile), an
interval and the JSON fields to read from the answer (JMESPath expressions,
https://jmespath.org)::

    probes:
      - name: breaker
        get: /health                 # a path (joined to the base URL) or an http(s) URL
        target: agent                # optional: gateway | agent of the built-in target
        every: 250ms                 # default 1s
        timeout: 1s                  # default: the smaller of 'every' and 2s
        fields: {state: circuit_breakers.gateway_callback, opened: breaker_opened}
      - name: hook
        call: health                 # instead of 'get': a call of the profile's 'calls:'
        fields: {state: circuitBreakers.stopHook}

A ``call`` is made as the profile says (method, path, body, headers and
``${ENV}`` secrets) on the run's host; the scenario loader checks that the
profile has it. The base URL of a path is the run's host, or with ``target: gateway|agent``
that process of the built-in target (read from its ``target.json``: the
agent's own ``/health`` answers while the gateway is down).

:func:`parse_probes` validates the list and raises
:class:`~loadkit.errors.ConfigError` naming the field (``probes[0].fields.state``);
the scenario loader adds the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError

from loadkit.errors import ConfigError, did_you_mean
from loadkit.units import parse_duration

__all__ = ["PROBE_TARGETS", "ProbeSpec", "parse_probes"]

PROBE_KEYS = ("name", "get", "call", "target", "every", "timeout", "fields")
PROBE_TARGETS = ("gateway", "agent")
MIN_EVERY_S = 0.05
MAX_EVERY_S = 3600.0
DEFAULT_EVERY_S = 1.0
MAX_TIMEOUT_S = 2.0
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # no '.': probe(NAME.FIELD) stays unambiguous
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ProbeSpec:
    """One validated probe. ``fields`` maps a field name to its JMESPath expression."""

    name: str
    get: str  # a path starting with '/' or an absolute http(s) URL ("" for a call)
    target: str | None  # None: the run's host; else a process of the built-in target
    every_s: float
    timeout_s: float
    fields: Mapping[str, str]
    call: str | None = None  # a call of the service profile's 'calls:', instead of 'get'

    @property
    def relative(self) -> bool:
        return self.call is not None or self.get.startswith("/")

    def url(self, base: str) -> str:
        """The URL to GET, with a path joined to ``base``."""
        return f"{base.rstrip('/')}{self.get}" if self.relative else self.get

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "get": self.get,
            "target": self.target,
            "every_s": self.every_s,
            "timeout_s": self.timeout_s,
            "fields": dict(self.fields),
            "call": self.call,
        }


def _error(field: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(problem, field=field, fix=fix)


def _get(raw: Any, label: str) -> str:
    fix = "write a path such as '/health' or a URL such as 'http://127.0.0.1:8080/health'"
    if not isinstance(raw, str) or not raw.strip():
        raise _error(f"{label}.get", f"{raw!r} is not a path or URL", fix)
    if raw.startswith("/"):
        if any(c.isspace() for c in raw):
            raise _error(f"{label}.get", f"{raw!r} contains spaces", "percent-encode them (%20)")
        return raw
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise _error(f"{label}.get", f"{raw!r} is not a URL ({exc})", fix) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(f"{label}.get", f"{raw!r} is not a path or an http(s) URL", fix)
    return raw


def _fields(raw: Any, label: str) -> dict[str, str]:
    fix = "write e.g. 'fields: {state: circuit_breakers.gateway_callback}'"
    if not isinstance(raw, Mapping) or not raw:
        raise _error(f"{label}.fields", "must be a mapping of field name to JSON query", fix)
    fields: dict[str, str] = {}
    for key, expression in raw.items():
        name = str(key)
        where = f"{label}.fields.{name}"
        if not _FIELD_RE.match(name):
            raise _error(where, f"{name!r} is not a field name", "use letters, digits and '_'")
        if not isinstance(expression, str) or not expression.strip():
            raise _error(where, f"{expression!r} is not a JSON query", fix)
        try:
            jmespath.compile(expression)
        except JMESPathError as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise _error(
                where,
                f"{expression!r} is not a valid JMESPath query ({problem})",
                "write a JMESPath expression such as 'a.b' or 'items[0].state'",
            ) from None
        fields[name] = expression
    return fields


def _duration(raw: Any, field: str, default: float, low: float, high: float) -> float:
    if raw is None:
        return default
    value = parse_duration(raw, field=field)
    if not low <= value <= high:
        raise _error(field, f"{raw!r} is out of range", f"use {low:g}s to {high:g}s")
    return value


def _parse_one(item: Any, index: int) -> ProbeSpec:
    label = f"probes[{index}]"
    if not isinstance(item, Mapping):
        raise _error(label, f"{item!r} is not a mapping", "write {name: x, get: /health, ...}")
    for key in item:
        if str(key) not in PROBE_KEYS:
            raise _error(f"{label}.{key}", "unknown key", did_you_mean(str(key), PROBE_KEYS))
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _error(
            f"{label}.name", f"{name!r} is not a probe name", "use letters, digits, '-' or '_'"
        )
    call = item.get("call")
    if call is not None:
        if "get" in item:
            raise _error(f"{label}.call", "is given with 'get'", "keep one of 'get' and 'call'")
        if not isinstance(call, str) or not _NAME_RE.match(call):
            raise _error(f"{label}.call", f"{call!r} is not a call name", "name one of the "
                         "service profile's 'calls:', e.g. 'call: health'")  # fmt: skip
        get = ""
    elif "get" not in item:
        raise _error(f"{label}.get", "is missing", "say what to GET, e.g. 'get: /health'")
    else:
        get = _get(item["get"], label)
    target = item.get("target")
    if target is not None:
        if target not in PROBE_TARGETS:
            raise _error(
                f"{label}.target",
                f"{target!r} is not a target process",
                did_you_mean(str(target), PROBE_TARGETS),
            )
        if get and not get.startswith("/"):
            raise _error(f"{label}.target", "needs a path in 'get'", "write e.g. 'get: /health'")
    if "fields" not in item:
        raise _error(f"{label}.fields", "is missing", "name the JSON fields to read")
    every = _duration(
        item.get("every"), f"{label}.every", DEFAULT_EVERY_S, MIN_EVERY_S, MAX_EVERY_S
    )
    default_timeout = min(every, MAX_TIMEOUT_S)
    timeout = _duration(item.get("timeout"), f"{label}.timeout", default_timeout, 0.01, 60.0)
    fields = _fields(item["fields"], label)
    return ProbeSpec(name, get, target, every, timeout, fields, call)


def parse_probes(raw: Any) -> tuple[ProbeSpec, ...]:
    """Validate a ``probes:`` list; raises ConfigError naming ``probes[i].field``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _error("probes", f"{raw!r} is not a list", "write probes as a YAML list of mappings")
    probes: list[ProbeSpec] = []
    for index, item in enumerate(raw):
        probe = _parse_one(item, index)
        if any(p.name == probe.name for p in probes):
            raise _error(f"probes[{index}].name", f"{probe.name!r} is used twice", "rename one")
        probes.append(probe)
    return tuple(probes)
