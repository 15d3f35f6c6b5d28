"""The fault model: named faults with a start, a duration, a kind and a target.

A fault plan is a list of plain dicts (the ``faults:`` list of a scenario file)::

    - {name: slow-net, at: 30s, for: 15s, kind: latency, via: proxy, latency: 500ms, jitter: 100ms}
    - {name: gw-pause, at: 60s, for: 5s, kind: pause, target: gateway}

:func:`parse_faults` validates the whole plan before a run starts and turns it
into :class:`FaultSpec` objects whose ``params`` are normalised (seconds,
bytes, fractions), so backends never parse user text. A plan is parsed once
(by the scenario loader, or :func:`load_fault_file` for ``--loadkit-faults``)
and the specs are handed on; each keeps its file and line (:attr:`FaultSpec.where`).
Every error is a one-line :class:`~loadkit.errors.FaultPlanError` naming the
file, line, fault and field::

    scenarios/x.yaml:7: faults[1] (gw-pause).for: '5 sec' is not a duration; write e.g. '30s'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError, FaultPlanError
from loadkit.faults.fields import BACKEND_KINDS, KIND_FIELDS, REQUIRED
from loadkit.units import parse_duration

__all__ = ["BACKEND_KINDS", "FaultSpec", "load_fault_file", "parse_faults"]

_COMMON_FIELDS = ("name", "at", "for", "kind", "via")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class FaultSpec:
    """One validated fault: what, where, when, and for how long."""

    name: str
    kind: str
    via: str
    at_s: float
    for_s: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0
    source: str = "<faults>"
    line: int | None = None  # of the fault in ``source``, when read from a file

    @property
    def where(self) -> str:
        """``file:line`` of the fault (``file`` when the line is unknown), for messages."""
        return self.source if self.line is None else f"{self.source}:{self.line}"

    @property
    def target(self) -> str:
        """A short human label for what the fault hits."""
        p = self.params
        if self.via == "proxy":
            return f"proxy {p.get('proxy') or '(default)'}"
        if self.via == "process":
            if p.get("target"):
                return str(p["target"])
            return f"pid {p['pid']}" if p.get("pid") is not None else f"pidfile {p['pidfile']}"
        if self.via == "docker":
            return f"container {p['container']}" if p.get("container") else f"label {p['label']}"
        url = p.get("url") or "(run host)"
        return f"{url}{p.get('path') or ''}" if self.kind != "request" else str(url)

    @property
    def instant(self) -> bool:
        """A one-shot action with nothing to revert (a restart, a request without ``revert``)."""
        if self.kind == "restart":
            return True
        return self.kind == "request" and not self.params.get("revert")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (journal, web UI); :meth:`from_dict` reads it back."""
        return {
            "name": self.name,
            "kind": self.kind,
            "via": self.via,
            "at_s": self.at_s,
            "for_s": self.for_s,
            "params": dict(self.params),
            "index": self.index,
            "source": self.source,
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultSpec:
        return cls(
            name=data["name"],
            kind=data["kind"],
            via=data["via"],
            at_s=float(data["at_s"]),
            for_s=None if data.get("for_s") is None else float(data["for_s"]),
            params=dict(data.get("params") or {}),
            index=int(data.get("index", 0)),
            source=str(data.get("source", "<faults>")),
            line=None if data.get("line") is None else int(data["line"]),
        )


def _infer_via(kind: str, item: Mapping[str, Any]) -> str | None:
    owners = [via for via, kinds in BACKEND_KINDS.items() if kind in kinds]
    if len(owners) == 1:
        return owners[0]
    if not owners:
        return None
    return "docker" if ("container" in item or "label" in item) else "process"


def _parse_one(item: Any, index: int, source: str, line: int | None) -> FaultSpec:
    label = f"faults[{index}]"
    if not isinstance(item, Mapping):
        raise FaultPlanError(
            f"{item!r} is not a mapping",
            source=source,
            field=label,
            fix="write {name: x, at: 30s, for: 10s, kind: ..., ...}",
        )
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise FaultPlanError(
            f"{name!r} is not a fault name",
            source=source,
            field=f"{label}.name",
            fix="give every fault a name of letters, digits, '-', '_' or '.'",
        )
    label = f"{label} ({name})"
    kind = item.get("kind")
    all_kinds = sorted({k for kinds in BACKEND_KINDS.values() for k in kinds})
    if not isinstance(kind, str) or not any(kind in kinds for kinds in BACKEND_KINDS.values()):
        raise FaultPlanError(
            f"{kind!r} is not a fault kind",
            source=source,
            field=f"{label}.kind",
            fix=f"use one of {', '.join(all_kinds)}",
        )
    via = item.get("via", _infer_via(kind, item))
    if not isinstance(via, str) or via not in BACKEND_KINDS:
        raise FaultPlanError(
            f"{via!r} is not a fault backend",
            source=source,
            field=f"{label}.via",
            fix=f"use one of {', '.join(BACKEND_KINDS)}",
        )
    if kind not in BACKEND_KINDS[via]:
        raise FaultPlanError(
            f"{kind!r} is not a kind of the {via} backend",
            source=source,
            field=f"{label}.kind",
            fix=f"use one of {', '.join(BACKEND_KINDS[via])} or change 'via'",
        )
    fields = KIND_FIELDS[(via, kind)]
    for key in item:
        if key not in fields and key not in _COMMON_FIELDS:
            allowed = ", ".join([*_COMMON_FIELDS, *fields])
            raise FaultPlanError(
                f"unknown field {key!r} for a {via} {kind} fault",
                source=source,
                field=f"{label}.{key}",
                fix=f"use only {allowed}",
            )
    try:
        if "at" not in item:
            raise ConfigError(
                "is missing", field=f"{label}.at", fix="say when the fault starts, e.g. at: 30s"
            )
        at_s = parse_duration(item["at"], field=f"{label}.at")
        for_s = (
            None if item.get("for") is None else parse_duration(item["for"], field=f"{label}.for")
        )
        params: dict[str, Any] = {}
        for key, (parser, default) in fields.items():
            if key in item and item[key] is not None:
                params[key] = parser(item[key], f"{label}.{key}", source)
            elif default is REQUIRED:
                raise ConfigError(
                    "is missing", field=f"{label}.{key}", fix=f"a {via} {kind} fault needs '{key}'"
                )
            else:
                params[key] = default
    except FaultPlanError:
        raise
    except ConfigError as exc:
        raise FaultPlanError(exc.problem, source=source, field=exc.field, fix=exc.fix) from None
    if for_s is not None and for_s <= 0:
        raise FaultPlanError(
            f"{item['for']!r} is not a positive duration",
            source=source,
            field=f"{label}.for",
            fix="write e.g. 10s, or leave 'for' out",
        )
    _check_targets(via, kind, params, label, source)
    return FaultSpec(
        name=name,
        kind=kind,
        via=via,
        at_s=at_s,
        for_s=for_s,
        params=params,
        index=index,
        source=source,
        line=line,
    )


def _check_targets(via: str, kind: str, params: Mapping[str, Any], label: str, source: str) -> None:
    if via == "process":
        given = [k for k in ("target", "pid", "pidfile") if params.get(k) is not None]
        if len(given) != 1:
            raise FaultPlanError(
                f"names {len(given)} targets",
                source=source,
                field=f"{label}.target",
                fix="give exactly one of target (gateway/agent), pid or pidfile",
            )
        if kind == "restart" and given[0] != "target" and not params.get("command"):
            raise FaultPlanError(
                "is missing",
                source=source,
                field=f"{label}.command",
                fix="a restart by pid/pidfile needs the command that starts it",
            )
    if via == "docker":
        given = [k for k in ("container", "label") if params.get(k) is not None]
        if len(given) != 1:
            raise FaultPlanError(
                f"names {len(given)} containers",
                source=source,
                field=f"{label}.container",
                fix="give exactly one of container or label",
            )


def parse_faults(
    items: Any, source: str = "<faults>", lines: Mapping[int, int] | None = None
) -> list[FaultSpec]:
    """Validate a ``faults:`` list into specs; raises FaultPlanError on the first problem.

    ``lines`` maps an item's index to its line in ``source``; each spec keeps it.
    Errors name the file and field; the caller that knows the lines adds the
    line (:func:`load_fault_file` here, the scenario loader for ``faults:``).
    """
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise FaultPlanError(
            f"{items!r} is not a list",
            source=source,
            field="faults",
            fix="write faults as a YAML list of mappings",
        )
    specs: list[FaultSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        spec = _parse_one(item, index, source, (lines or {}).get(index))
        if spec.name in seen:
            raise FaultPlanError(
                "is used twice",
                source=source,
                field=f"faults[{index}] ({spec.name}).name",
                fix="give every fault its own name",
            )
        seen.add(spec.name)
        specs.append(spec)
    return specs


def load_fault_file(path: str | Path) -> list[FaultSpec]:
    """The faults of a YAML file with a top-level ``faults:`` list (a scenario file works).

    Specs and errors name the file and line (``plan.yaml:7: faults[1] (x).at: ...``).
    """
    from loadkit.scenario.yamldoc import YamlDoc, parse_field

    source = str(path)
    try:
        doc = YamlDoc(Path(path), source)
    except ConfigError as exc:  # unreadable, not YAML: the same words, as a fault plan error
        raise FaultPlanError(exc.problem, source=source, line=exc.line, fix=exc.fix) from None
    data = doc.data
    if not isinstance(data, dict) or "faults" not in data:
        raise FaultPlanError(
            "has no top-level 'faults:' list",
            source=source,
            field="faults",
            fix="add faults: [{name: x, at: 30s, kind: ...}]",
        )
    items = data["faults"]
    count = len(items) if isinstance(items, list) else 0
    lines = {i: line for i in range(count) if (line := doc.line(("faults", i))) is not None}
    try:
        return parse_faults(items, source=source, lines=lines)
    except FaultPlanError as exc:
        where = parse_field(exc.field or "faults")
        raise FaultPlanError(
            exc.problem, source=source, line=doc.line(where), field=exc.field, fix=exc.fix
        ) from None
