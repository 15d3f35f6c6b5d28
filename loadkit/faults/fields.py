"""The fields each kind of fault takes, and the parsers that normalise their values.

Every fault has ``name``, ``at`` (offset from the test start), optional ``for``
(absent: active until reverted by hand or the run ends), ``kind`` and optional
``via`` (inferred from the kind; ``pause/kill/restart`` go to docker when
``container``/``label`` is given, else to process). Per backend:

======== =========================================== ====================================
via      kinds                                       fields
======== =========================================== ====================================
proxy    latency, bandwidth, timeout, reset_peer,    proxy, api, stream (downstream),
         slicer, limit_data, slow_close, down        toxicity (100%); latency + jitter,
                                                     rate (size/s), timeout, average_size
                                                     + size_variation + delay, bytes, delay
process  pause, kill, terminate, restart             one of target (gateway/agent in
                                                     target.json), pid, pidfile; command
docker   pause, stop, kill, restart, disconnect      one of container, label; timeout
                                                     (10s); network (disconnect)
http     app-error, app-latency, request             url, path; error_rate (100%), status
                                                     (500); latency; method, url (or a
                                                     path: joined to the service's URL),
                                                     json, headers, revert {method, url,
                                                     json}
exec     exec                                        command (argv list), revert (argv
                                                     list), timeout (30s), shell (false:
                                                     a string command needs shell: true),
                                                     cwd, env
======== =========================================== ====================================

``KIND_FIELDS[(via, kind)]`` maps a field to ``(parser, default)``; a default
of ``REQUIRED`` makes the field mandatory. Parsers take ``(value, field,
source)`` and return the value in base units (seconds, bytes, fractions), or
raise :class:`~loadkit.errors.ConfigError` naming the field and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loadkit.errors import ConfigError
from loadkit.units import parse_duration, parse_percent, parse_size

__all__ = ["BACKEND_KINDS", "KIND_FIELDS", "REQUIRED"]

BACKEND_KINDS: dict[str, tuple[str, ...]] = {
    "proxy": (
        "latency",
        "bandwidth",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "slow_close",
        "down",
    ),
    "process": ("pause", "kill", "terminate", "restart"),
    "docker": ("pause", "stop", "kill", "restart", "disconnect"),
    "http": ("app-error", "app-latency", "request"),
    "exec": ("exec",),
}


Parser = Callable[[Any, str, str], Any]


def _duration(value: Any, field_: str, source: str) -> float:
    return parse_duration(value, field=field_, source=source)


def _size(value: Any, field_: str, source: str) -> int:
    return parse_size(value, field=field_, source=source)


def _percent(value: Any, field_: str, source: str) -> float:
    return parse_percent(value, field=field_, source=source)


def _text(value: Any, field_: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{value!r} is not a text", source=source, field=field_, fix="write a non-empty string"
        )
    return value


def _int(value: Any, field_: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{value!r} is not a whole number", source=source, field=field_, fix="write e.g. 1234"
        )
    return value


def _status(value: Any, field_: str, source: str) -> int:
    status = _int(value, field_, source)
    if not 100 <= status <= 599:
        raise ConfigError(
            f"{value!r} is not an HTTP status",
            source=source,
            field=field_,
            fix="write e.g. 500 or 503",
        )
    return status


def _command(value: Any, field_: str, source: str) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"{value!r} is not a command",
            source=source,
            field=field_,
            fix="write a list such as ['python3', '-m', 'app']",
        )
    return list(value)


def _argv(value: Any, field_: str, source: str) -> list[str] | str:
    """A command as an argv list; a string only with ``shell: true`` (checked by the model)."""
    if isinstance(value, str) and value.strip():
        return value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"{value!r} is not a command",
            source=source,
            field=field_,
            fix="write an argv list such as ['fallocate', '-l', '1G', '/data/fill']",
        )
    return list(value)


def _flag(value: Any, field_: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(
            f"{value!r} is not true or false",
            source=source,
            field=field_,
            fix="write true or false",
        )
    return value


def _env(value: Any, field_: str, source: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) for v in value.values()
    ):
        raise ConfigError(
            f"{value!r} is not a mapping of variables",
            source=source,
            field=field_,
            fix="write e.g. {PGHOST: 127.0.0.1}",
        )
    return {str(k): str(v) for k, v in value.items()}


def _url_or_path(value: Any, field_: str, source: str) -> str:
    """An absolute http(s) URL, or a path starting with '/' (joined to the service's URL)."""
    from urllib.parse import urlsplit

    text = _text(value, field_, source)
    if text.startswith("/"):
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{value!r} is not an http(s) URL or a path",
            source=source,
            field=field_,
            fix="write e.g. '/admin/mode' (the run's service) or 'http://127.0.0.1:8080/x'",
        )
    return text


def _stream(value: Any, field_: str, source: str) -> str:
    if value not in ("downstream", "upstream"):
        raise ConfigError(
            f"{value!r} is not a stream",
            source=source,
            field=field_,
            fix="write 'downstream' or 'upstream'",
        )
    return str(value)


def _method(value: Any, field_: str, source: str) -> str:
    if not isinstance(value, str) or not value.isalpha():
        raise ConfigError(
            f"{value!r} is not an HTTP method",
            source=source,
            field=field_,
            fix="write e.g. POST or DELETE",
        )
    return value.upper()


def _any(value: Any, field_: str, source: str) -> Any:
    return value


def _headers(value: Any, field_: str, source: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(
            f"{value!r} is not a header map",
            source=source,
            field=field_,
            fix="write e.g. {Authorization: 'Bearer x'}",
        )
    return {str(k): v for k, v in value.items()}


def _http_call(value: Any, field_: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{value!r} is not a request",
            source=source,
            field=field_,
            fix="write {method: DELETE, url: 'http://127.0.0.1:PORT/x', json: {...}}",
        )
    unknown = set(value) - {"method", "url", "json", "headers"}
    if unknown:
        raise ConfigError(
            f"unknown key {sorted(unknown)[0]!r}",
            source=source,
            field=field_,
            fix="use only method, url, json, headers",
        )
    call: dict[str, Any] = {"url": _url_or_path(value.get("url"), f"{field_}.url", source)}
    call["method"] = _method(value.get("method", "POST"), f"{field_}.method", source)
    if "json" in value:
        call["json"] = value["json"]
    if "headers" in value:
        call["headers"] = _headers(value["headers"], f"{field_}.headers", source)
    return call


# field -> (parser, default or REQUIRED). Defaults are already normalised.
REQUIRED = object()
_Fields = dict[str, tuple[Parser, Any]]

_PROXY_COMMON: _Fields = {
    "proxy": (_text, None),
    "api": (_text, None),
    "stream": (_stream, "downstream"),
    "toxicity": (_percent, 1.0),
}
_PROCESS_COMMON: _Fields = {
    "target": (_text, None),
    "pid": (_int, None),
    "pidfile": (_text, None),
    "command": (_command, None),
}
_DOCKER_COMMON: _Fields = {
    "container": (_text, None),
    "label": (_text, None),
    "timeout": (_duration, 10.0),
}

KIND_FIELDS: dict[tuple[str, str], _Fields] = {
    ("proxy", "latency"): {
        **_PROXY_COMMON,
        "latency": (_duration, REQUIRED),
        "jitter": (_duration, 0.0),
    },
    ("proxy", "bandwidth"): {**_PROXY_COMMON, "rate": (_size, REQUIRED)},
    ("proxy", "timeout"): {**_PROXY_COMMON, "timeout": (_duration, 0.0)},
    ("proxy", "reset_peer"): {**_PROXY_COMMON, "timeout": (_duration, 0.0)},
    ("proxy", "slicer"): {
        **_PROXY_COMMON,
        "average_size": (_size, REQUIRED),
        "size_variation": (_size, 0),
        "delay": (_duration, 0.0),
    },
    ("proxy", "limit_data"): {**_PROXY_COMMON, "bytes": (_size, REQUIRED)},
    ("proxy", "slow_close"): {**_PROXY_COMMON, "delay": (_duration, REQUIRED)},
    ("proxy", "down"): {"proxy": (_text, None), "api": (_text, None)},
    **{("process", k): dict(_PROCESS_COMMON) for k in BACKEND_KINDS["process"]},
    **{("docker", k): dict(_DOCKER_COMMON) for k in BACKEND_KINDS["docker"]},
    ("docker", "disconnect"): {**_DOCKER_COMMON, "network": (_text, REQUIRED)},
    ("http", "app-error"): {
        "url": (_text, None),
        "path": (_text, None),
        "error_rate": (_percent, 1.0),
        "status": (_status, 500),
    },
    ("http", "app-latency"): {
        "url": (_text, None),
        "path": (_text, None),
        "latency": (_duration, REQUIRED),
    },
    ("http", "request"): {
        "method": (_method, "POST"),
        "url": (_url_or_path, REQUIRED),
        "json": (_any, None),
        "headers": (_headers, None),
        "revert": (_http_call, None),
    },
    ("exec", "exec"): {
        "command": (_argv, REQUIRED),
        "revert": (_argv, None),
        "timeout": (_duration, 30.0),
        "shell": (_flag, False),
        "cwd": (_text, None),
        "env": (_env, None),
    },
}
