"""Secrets never leave loadkit: one redaction used by everything that writes or prints.

- credentials in URLs (``https://user:pass@host`` -> ``https://***@host``) and
  secret-looking query parameters (``?token=...`` -> ``?token=***``);
- the values of headers and fields on a deny-list: ``Authorization``,
  ``Cookie``, ``Set-Cookie``, ``Proxy-Authorization``, ``X-Api-Key`` and any
  name containing ``token``, ``secret``, ``password``, ``passwd``, ``apikey``,
  ``api_key``/``api-key``, ``credential`` or ``session-id``;
- ``${ENV}`` references are not secrets (the value lives in the environment)
  and are kept as written; they are expanded only at the moment of use
  (:func:`expand_env`).

    redact_value({"headers": {"Authorization": "Bearer abc"}})
    # -> {"headers": {"Authorization": "***"}}
    logging.getLogger("httpx").addFilter(RedactingFilter())
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

__all__ = [
    "MASK",
    "RedactingFilter",
    "expand_env",
    "install_log_filter",
    "is_secret_name",
    "redact_text",
    "redact_value",
]

MASK = "***"
DENY_NAMES = frozenset(
    {"authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key", "x-auth-token"}
)
SECRET_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "api-key",
    "credential",
    "session-id",
    "sessionid",
)
_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:[^=&\s#]*(?:" + "|".join(re.escape(p) for p in SECRET_PARTS) + r")[^=&\s#]*)"
    r"|[?&;](?:key|sig|signature|auth))=(?P<value>[^&\s#\"']+)",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(
    r"(?P<name>\b(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key)\b['\"]?\s*[:=]\s*)"
    r"(?P<quote>['\"]?)(?P<value>[^'\"\r\n,}]+)",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """A header or field name whose value is a secret."""
    lowered = name.lower()
    return lowered in DENY_NAMES or any(part in lowered for part in SECRET_PARTS)


def _mask_unless_env(value: Any) -> Any:
    if isinstance(value, str) and _ENV_ONLY.match(value.strip()):
        return value
    if isinstance(value, str) and value.lower().startswith(("bearer ${", "basic ${", "token ${")):
        return value
    return MASK


def redact_text(text: str) -> str:
    """URL credentials, secret query parameters and ``Authorization: ...`` in free text."""
    if not text:
        return text
    text = _URL_USERINFO.sub(
        lambda m: m.group(0) if "${" in m.group("userinfo") else f"{m.group('scheme')}{MASK}@",
        text,
    )
    text = _QUERY_SECRET.sub(
        lambda m: m.group(0) if m.group("value").startswith("${") else f"{m.group('key')}={MASK}",
        text,
    )
    return _HEADER_LINE.sub(
        lambda m: (
            m.group(0) if "${" in m.group("value") else f"{m.group('name')}{m.group('quote')}{MASK}"
        ),
        text,
    )


def redact_value(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every secret masked."""
    if isinstance(value, dict):
        return {
            key: _mask_unless_env(item)
            if isinstance(key, str) and is_secret_name(key) and isinstance(item, str | int | float)
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def expand_env(value: Any) -> Any:
    """``${NAME}`` replaced by the environment's value (unset: empty), recursively."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), value)
    if isinstance(value, dict):
        return {key: expand_env(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """Redacts a log record's message (e.g. httpx's ``HTTP Request: GET https://u:p@...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_installed: set[str] = set()


def install_log_filter(*names: str) -> None:
    """Add the filter to these loggers (default: httpx, httpcore, urllib3), once each."""
    for name in names or ("httpx", "httpcore", "urllib3"):
        if name not in _installed:
            logging.getLogger(name).addFilter(RedactingFilter())
            _installed.add(name)
