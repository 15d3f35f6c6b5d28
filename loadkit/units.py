"""The one parser for durations, sizes and percentages in user input.

Scenario files, fault plans and flags all write quantities the same way:

- durations: ``500ms``, ``30s``, ``2m``, ``1h``, ``1.5s``, or a bare number of
  seconds (``30``, ``0.25``);
- sizes: ``512``, ``100B``, ``64KB``, ``10MB``, ``1GB`` (powers of 1024; ``KiB``
  and friends are accepted too);
- percentages: ``5%``, ``0.5%`` or a fraction ``0.05``;
- timestamps a service answers with (:func:`epoch_seconds`): epoch seconds, or
  ISO 8601 text (UTC when it names no zone).

Every parser raises :class:`~loadkit.errors.ConfigError` naming the source, the
field and the fix, so the caller only passes where the value came from.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from loadkit.errors import ConfigError

__all__ = ["epoch_seconds", "parse_duration", "parse_percent", "parse_size"]

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_PERCENT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%?)\s*$")


def _error(
    kind: str, value: object, field: str | None, source: str | None, fix: str
) -> ConfigError:
    return ConfigError(f"{value!r} is not a {kind}", source=source, field=field, fix=fix)


def _number_or_text(
    value: object, kind: str, field: str | None, source: str | None, fix: str
) -> int | float | str:
    """``value`` as a non-negative number or as text to parse; anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _error(kind, value, field, source, fix)
    if not isinstance(value, str) and value < 0:
        raise ConfigError(f"{value!r} is negative", source=source, field=field, fix=fix)
    return value


def parse_duration(value: object, *, field: str | None = None, source: str | None = None) -> float:
    """``'500ms'`` → 0.5; ``'2m'`` → 120.0; a bare number is seconds. Never negative."""
    fix = "write e.g. '500ms', '30s', '2m' or '1h'"
    value = _number_or_text(value, "duration", field, source, fix)
    if not isinstance(value, str):
        return float(value)
    match = _DURATION_RE.match(value)
    if not match:
        raise _error("duration", value, field, source, fix)
    number, unit = match.groups()
    return float(number) * _DURATION_UNITS[(unit or "s").lower()]


def parse_size(value: object, *, field: str | None = None, source: str | None = None) -> int:
    """``'64KB'`` → 65536 bytes; a bare number is bytes (powers of 1024)."""
    fix = "write e.g. '512', '64KB', '10MB' or '1GB'"
    value = _number_or_text(value, "size", field, source, fix)
    if not isinstance(value, str):
        return int(value)
    match = _SIZE_RE.match(value)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise _error("size", value, field, source, fix)
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_percent(value: object, *, field: str | None = None, source: str | None = None) -> float:
    """``'5%'`` → 0.05; a bare number ≤ 1 is a fraction (``0.05``). Result in [0, 1]."""
    fix = "write e.g. '5%' or 0.05"
    if isinstance(value, bool):
        raise _error("percentage", value, field, source, fix)
    if isinstance(value, int | float):
        fraction = float(value)
    elif isinstance(value, str) and (match := _PERCENT_RE.match(value)):
        number, sign = match.groups()
        fraction = float(number) / 100 if sign else float(number)
    else:
        raise _error("percentage", value, field, source, fix)
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"{value!r} is outside 0%..100%", source=source, field=field, fix=fix)
    return fraction


def epoch_seconds(value: object) -> float | None:
    """A timestamp as epoch seconds: a number of seconds, or ISO 8601 text (UTC if naive);
    None for anything else (a service's answer is data, not user input: no error)."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
