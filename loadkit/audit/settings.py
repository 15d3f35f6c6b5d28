"""The ``audit:`` section of a scenario: how long the loss audit may take.

::

    audit:
      deadline: 30s      # the audit waits at most this long for items to reach their end state
      late_after: 10s    # an item that took longer than this from acceptance to its end is late
      every: 500ms       # pause between two looks at the items still pending

All optional; without the section these defaults apply. ``loadkit run`` audits
a run when the scenario has this section or a check on the audit
(``lost(jobs) == 0``...); ``loadkit audit RUN_DIR`` audits any run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadkit.errors import ConfigError, did_you_mean
from loadkit.units import parse_duration

__all__ = ["AuditSettings", "parse_audit_settings"]

_KEYS = {"deadline": (1.0, 3600.0), "late_after": (0.0, 86400.0), "every": (0.05, 60.0)}


@dataclass(frozen=True)
class AuditSettings:
    deadline_s: float = 30.0
    late_after_s: float = 10.0
    every_s: float = 0.5
    requested: bool = False  # the scenario has an 'audit:' section

    def to_dict(self) -> dict[str, float]:
        return {
            "deadline_s": self.deadline_s,
            "late_after_s": self.late_after_s,
            "every_s": self.every_s,
        }


def parse_audit_settings(raw: Any) -> AuditSettings:
    """Validate an ``audit:`` mapping; raises ConfigError naming ``audit.KEY``."""
    if raw is None:
        return AuditSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{raw!r} is not a mapping", field="audit", fix="write e.g. 'audit: {deadline: 30s}'"
        )
    values: dict[str, float] = {}
    for key, value in raw.items():
        name = str(key)
        if name not in _KEYS:
            raise ConfigError("unknown key", field=f"audit.{name}", fix=did_you_mean(name, _KEYS))
        seconds = parse_duration(value, field=f"audit.{name}")
        low, high = _KEYS[name]
        if not low <= seconds <= high:
            raise ConfigError(
                f"{value!r} is out of range",
                field=f"audit.{name}",
                fix=f"use {low:g}s to {high:g}s",
            )
        values[f"{name}_s"] = seconds
    return AuditSettings(**values, requested=True)
