"""The closed load model as plain data: stages, the shape kinds, the arithmetic.

A run's load is a sequence of :class:`Stage` s: hold ``users`` (reached at
``spawn_rate`` users/s) for ``duration_s``. Two ways to write one, validated
the same way whether they come from a scenario file or from Python:

- a list of stages, ``[{duration, users, spawn_rate?, name?}]``
  (:func:`parse_stages`; a missing ``spawn_rate`` keeps the previous
  stage's, the first stage defaults to reaching its users in one second);
- a shape kind and its parameters (:data:`SHAPE_KINDS`, :func:`expand`):

  ======  ==============================================================
  ramp    ``users``, ``ramp_s``, ``hold_s=0``, ``ramp_down_s=0``
  steps   ``step_users``, ``steps``, ``step_s``, ``spawn_rate``, ``start_users=0``
  spike   ``base_users``, ``spike_users``, ``base_s``, ``spike_s``, ``recovery_s``,
          ``spike_rate``, ``repeat=1``
  soak    ``users``, ``duration_s``, ``ramp_s=0``, ``spawn_rate``
  ======  ==============================================================

Durations are seconds or duration text (``30s``, ``2m``). Every error is a
:class:`~loadkit.errors.ConfigError` naming the field (``stages[1].users``,
``ramp_s``) and the fix. :class:`StagePlan` answers "how long", "how many
users at most" and "which stage (users, spawn rate, name) at time t". This
module imports no Locust and no gevent, so ``loadkit run`` and the scenario
validator use it in a plain process; :mod:`loadkit.load.shape` adapts it to
Locust's ``LoadTestShape``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadkit.errors import ConfigError, did_you_mean
from loadkit.units import parse_duration

__all__ = [
    "SHAPE_KINDS",
    "STAGE_KEYS",
    "FieldChecks",
    "Stage",
    "StagePlan",
    "expand",
    "parse_stages",
    "ramp",
    "shape_parameters",
    "soak",
    "spike",
    "steps",
]

STAGE_KEYS = ("duration", "users", "spawn_rate", "name")


@dataclass(frozen=True)
class Stage:
    """One stage of a shape: hold ``users`` (reached at ``spawn_rate``/s) for ``duration_s``."""

    index: int
    name: str | None
    users: int
    spawn_rate: float
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        """The stage as a ``stages:`` entry (what :func:`parse_stages` reads back)."""
        out: dict[str, Any] = {
            "duration": self.duration_s,
            "users": self.users,
            "spawn_rate": self.spawn_rate,
        }
        if self.name is not None:
            out["name"] = self.name
        return out


class FieldChecks:
    """Validation helpers that raise ConfigError naming the field (``prefix`` + name)."""

    def __init__(self, source: str | None, prefix: str) -> None:
        self.source = source
        self.prefix = prefix

    def error(self, field: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(problem, source=self.source, field=f"{self.prefix}{field}", fix=fix)

    def number(
        self, field: str, value: Any, *, minimum: float = 0.0, strict: bool = False
    ) -> float:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value < minimum
            or (strict and value == minimum)
        ):
            raise self.error(field, f"{value!r} is not a number {bound}", f"write e.g. {field}: 5")
        return float(value)

    def count(self, field: str, value: Any, *, minimum: int = 0) -> int:
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or value < minimum:
            raise self.error(
                field, f"{value!r} is not a whole number >= {minimum}", f"write e.g. '{field}: 10'"
            )
        return int(value)

    def duration(self, field: str, value: Any, *, positive: bool = True) -> float:
        try:
            seconds = parse_duration(value, field=f"{self.prefix}{field}", source=self.source)
        except ConfigError as exc:  # the units parser's message, this field's name
            raise self.error(field, exc.problem, exc.fix or "write e.g. '30s'") from None
        if positive and seconds <= 0:
            raise self.error(field, "must be longer than 0s", "write e.g. '30s'")
        return seconds


def parse_stages(raw: Any, *, source: str | None = None) -> tuple[Stage, ...]:
    """``[{duration, users, spawn_rate?, name?}]`` → stages (durations in seconds)."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        raise ConfigError(
            "must be a non-empty list of stages",
            source=source,
            field="stages",
            fix="write e.g. [{duration: 30s, users: 10, spawn_rate: 5}]",
        )
    stages: list[Stage] = []
    spawn_rate: float | None = None
    for index, item in enumerate(raw):
        check = FieldChecks(source, f"stages[{index}].")
        if not isinstance(item, Mapping):
            raise ConfigError(
                f"{item!r} is not a mapping",
                source=source,
                field=f"stages[{index}]",
                fix="write {duration: 30s, users: 10}",
            )
        for key in item:
            if str(key) not in STAGE_KEYS:
                raise check.error(str(key), "unknown key", did_you_mean(str(key), STAGE_KEYS))
        for required in ("duration", "users"):
            if required not in item:
                raise check.error(required, "is missing", f"add {required}: ...")
        duration = check.duration("duration", item["duration"])
        users = check.count("users", item["users"])
        if item.get("spawn_rate") is not None:
            spawn_rate = check.number("spawn_rate", item["spawn_rate"], strict=True)
        elif spawn_rate is None:
            spawn_rate = float(max(users, 1))
        name = item.get("name")
        if name is not None and (isinstance(name, bool) or not isinstance(name, str | int | float)):
            raise check.error("name", f"{name!r} is not text", "write a short name, e.g. steady")
        stages.append(
            Stage(index, None if name is None else str(name), users, spawn_rate, duration)
        )
    return tuple(stages)


def _numbered(specs: Sequence[tuple[str, int, float, float]]) -> tuple[Stage, ...]:
    return tuple(
        Stage(i, name, users, rate, dur) for i, (name, users, rate, dur) in enumerate(specs)
    )


def ramp(
    users: int,
    ramp_s: float | str,
    hold_s: float | str = 0.0,
    ramp_down_s: float | str = 0.0,
    *,
    source: str | None = None,
) -> tuple[Stage, ...]:
    """Ramp linearly from 0 to ``users`` over ``ramp_s``, hold, optionally ramp down."""
    check = FieldChecks(source, "")
    users = check.count("users", users, minimum=1)
    up = check.duration("ramp_s", ramp_s)
    hold = check.duration("hold_s", hold_s, positive=False)
    down = check.duration("ramp_down_s", ramp_down_s, positive=False)
    specs = [("ramp", users, users / up, up)]
    if hold:
        specs.append(("hold", users, users / up, hold))
    if down:
        specs.append(("ramp-down", 0, users / down, down))
    return _numbered(specs)


def steps(
    step_users: int,
    steps: int,
    step_s: float | str,
    spawn_rate: float | None = None,
    start_users: int = 0,
    *,
    source: str | None = None,
) -> tuple[Stage, ...]:
    """``steps`` steps of ``step_users`` more users each, ``step_s`` seconds apart."""
    check = FieldChecks(source, "")
    step_users = check.count("step_users", step_users, minimum=1)
    count = check.count("steps", steps, minimum=1)
    length = check.duration("step_s", step_s)
    start_users = check.count("start_users", start_users)
    rate = (
        float(step_users)
        if spawn_rate is None
        else check.number("spawn_rate", spawn_rate, strict=True)
    )
    return _numbered(
        [(f"step {n}", start_users + step_users * n, rate, length) for n in range(1, count + 1)]
    )


def spike(
    base_users: int,
    spike_users: int,
    base_s: float | str,
    spike_s: float | str,
    recovery_s: float | str,
    spike_rate: float | None = None,
    repeat: int = 1,
    *,
    source: str | None = None,
) -> tuple[Stage, ...]:
    """Baseline, a sudden spike (or ``repeat`` bursts), then recovery at baseline.

    Stages: ``baseline`` (``base_s``), then per burst ``spike`` (``spike_s`` at
    ``spike_users``, spawned at ``spike_rate``/s) and ``recovery``
    (``recovery_s`` back at ``base_users``).
    """
    check = FieldChecks(source, "")
    base_users = check.count("base_users", base_users)
    spike_users = check.count("spike_users", spike_users, minimum=1)
    if spike_users <= base_users:
        raise check.error(
            "spike_users",
            f"{spike_users} is not above base_users ({base_users})",
            "make spike_users larger than base_users",
        )
    base = check.duration("base_s", base_s)
    burst = check.duration("spike_s", spike_s)
    recovery = check.duration("recovery_s", recovery_s)
    repeat = check.count("repeat", repeat, minimum=1)
    jump = float(spike_users - base_users)
    rate = jump if spike_rate is None else check.number("spike_rate", spike_rate, strict=True)
    specs = [("baseline", base_users, float(max(base_users, 1)), base)]
    for n in range(1, repeat + 1):
        suffix = "" if repeat == 1 else f" {n}"
        specs.append((f"spike{suffix}", spike_users, rate, burst))
        specs.append((f"recovery{suffix}", base_users, rate, recovery))
    return _numbered(specs)


def soak(
    users: int,
    duration_s: float | str,
    ramp_s: float | str = 0.0,
    spawn_rate: float | None = None,
    *,
    source: str | None = None,
) -> tuple[Stage, ...]:
    """A long steady state at ``users``, optionally after a slow ``ramp_s`` ramp."""
    check = FieldChecks(source, "")
    users = check.count("users", users, minimum=1)
    steady = check.duration("duration_s", duration_s)
    up = check.duration("ramp_s", ramp_s, positive=False)
    if spawn_rate is not None:
        rate = check.number("spawn_rate", spawn_rate, strict=True)
    else:
        rate = users / up if up else float(users)
    specs = [("steady", users, rate, steady)]
    if up:
        specs.insert(0, ("ramp", users, rate, up))
    return _numbered(specs)


ShapeBuilder = Callable[..., tuple[Stage, ...]]

#: The one table of shape kinds: ``shape: {kind: <name>, ...}`` in a scenario,
#: :func:`loadkit.load.shape.build_shape` in Python.
SHAPE_KINDS: Mapping[str, ShapeBuilder] = {
    "ramp": ramp,
    "steps": steps,
    "spike": spike,
    "soak": soak,
}


def shape_parameters(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(accepted, required)`` parameter names of a shape kind, in signature order."""
    params = [
        p for name, p in inspect.signature(SHAPE_KINDS[kind]).parameters.items() if name != "source"
    ]
    accepted = tuple(p.name for p in params)
    return accepted, tuple(p.name for p in params if p.default is p.empty)


def expand(
    kind: str, params: Mapping[str, Any] | None = None, *, source: str | None = None
) -> tuple[Stage, ...]:
    """``"soak"`` + ``{users: 50, duration_s: 3600}`` → its stages.

    Unknown kinds, unknown or missing parameters and bad values raise
    :class:`ConfigError` (the field is the parameter, or ``shape``).
    """
    params = dict(params or {})
    if kind not in SHAPE_KINDS:
        raise ConfigError(
            f"unknown shape {kind!r}",
            source=source,
            field="shape",
            fix=did_you_mean(str(kind), SHAPE_KINDS),
        )
    accepted, required = shape_parameters(kind)
    for name in params:
        if name not in accepted:
            raise ConfigError(
                f"unknown parameter for shape {kind!r}",
                source=source,
                field=str(name),
                fix=f"use: {', '.join(accepted)}",
            )
    missing = [name for name in required if name not in params]
    if missing:
        raise ConfigError(
            f"missing parameter {missing[0]!r} for shape {kind!r}",
            source=source,
            field="shape",
            fix=f"give: {', '.join(required)}",
        )
    return SHAPE_KINDS[kind](**params, source=source)


@dataclass(frozen=True)
class StagePlan:
    """A run's stages end to end: its length, and the stage active at time t."""

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("no stages", field="stages", fix="give at least one stage")

    def __iter__(self) -> Iterator[Stage]:
        return iter(self.stages)

    def _ends(self) -> Iterator[tuple[Stage, float]]:
        end = 0.0
        for stage in self.stages:
            end += stage.duration_s
            yield stage, end

    @property
    def total_duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    @property
    def peak_users(self) -> int:
        return max(stage.users for stage in self.stages)

    @property
    def first_spawn_rate(self) -> float:
        return self.stages[0].spawn_rate

    def stage_at(self, run_time_s: float) -> Stage | None:
        """The stage active ``run_time_s`` seconds into the run (None after the end)."""
        for stage, end in self._ends():
            if run_time_s < end:
                return stage
        return None
