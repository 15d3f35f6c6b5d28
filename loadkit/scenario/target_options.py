"""``target_options:`` of a scenario: settings of the built-in target, validated up front.

The option list is the target's own: every field of
:class:`~loadkit.target.config.TargetConfig` and
:class:`~loadkit.target.config.AgentConfig` except where it lives and how it
is wired (``data_dir``, ``host``, ``port``, ``watch_pid``, ``gateway_url``)::

    target_options:
      idle_after_s: 5          # sessions: idle after 5 s without activity
      expire_after_s: 10s      # a duration works for *_s options
      cold_start_ms: 300ms     # and for *_ms options
      queue_limit: 200
      breaker_failures: 3      # agent: consecutive failures that open its breaker
      response_ttl_s: 60       # cleanup TTL

The ``break_*`` options (``true``/``false``) each break one behaviour of the
target on purpose (``break_expired_leases_not_requeued: true`` drops the jobs
of a dead agent), to prove that a check catches it.

An unknown option, or a value of the wrong type, is a
:class:`~loadkit.errors.ConfigError` naming ``target_options.NAME``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from loadkit.errors import ConfigError, did_you_mean
from loadkit.target.config import AT_LEAST_ONE, AgentConfig, TargetConfig
from loadkit.units import parse_duration

__all__ = ["TARGET_OPTIONS", "parse_target_options"]

_WIRING = {"data_dir", "host", "port", "watch_pid", "gateway_url"}


def _option_table() -> dict[str, tuple[type, str]]:
    table: dict[str, tuple[type, str]] = {}
    for cls in (TargetConfig, AgentConfig):
        for f in dataclasses.fields(cls):
            if f.name not in _WIRING:
                table.setdefault(f.name, (type(f.default), str(f.metadata.get("help", ""))))
    return table


TARGET_OPTIONS: dict[str, tuple[type, str]] = _option_table()  # name -> (type, help)


def _value(name: str, kind: type, raw: Any) -> int | float | bool:
    field = f"target_options.{name}"
    if kind is bool:  # the break_* knobs: deliberately broken behaviour, for tests of tests
        if not isinstance(raw, bool):
            raise ConfigError(f"{raw!r} is not true or false", field=field, fix="write true")
        return raw
    if isinstance(raw, bool) or raw is None:
        raise ConfigError(f"{raw!r} is not a number", field=field, fix="write e.g. 5")
    value: float
    if isinstance(raw, str) and (name.endswith("_s") or name.endswith("_ms")):
        seconds = parse_duration(raw, field=field)
        value = seconds * 1000.0 if name.endswith("_ms") else seconds
    elif isinstance(raw, int | float):
        value = float(raw)
    else:
        raise ConfigError(f"{raw!r} is not a number", field=field, fix="write e.g. 5")
    if value < 0:
        raise ConfigError(f"{raw!r} is negative", field=field, fix="write a value >= 0")
    if value < 1 and name in AT_LEAST_ONE:  # a limit of 0 would refuse everything
        raise ConfigError(f"{raw!r} is below 1", field=field, fix="write a value >= 1")
    if kind is int:
        if value != int(value):
            raise ConfigError(f"{raw!r} is not a whole number", field=field, fix="write e.g. 3")
        return int(value)
    return value


def parse_target_options(raw: Any) -> dict[str, int | float | bool]:
    """Validate a ``target_options:`` mapping; raises ConfigError naming the option."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{raw!r} is not a mapping",
            field="target_options",
            fix="write e.g. 'target_options: {idle_after_s: 5, queue_limit: 100}'",
        )
    options: dict[str, int | float | bool] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in TARGET_OPTIONS:
            raise ConfigError(
                "is not an option of the built-in target",
                field=f"target_options.{key}",
                fix=did_you_mean(name, sorted(TARGET_OPTIONS)),
            )
        options[name] = _value(name, TARGET_OPTIONS[name][0], value)
    return options
