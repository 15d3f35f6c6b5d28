"""Load shapes: how many users run over time, built from plain parameters.

Closed model (Locust ``LoadTestShape``): a run is a sequence of
:class:`Stage` s. :class:`StagesShape` takes the stages as given (a
scenario's ``stages:`` list); :class:`RampShape`, :class:`StepShape`,
:class:`SpikeShape` and :class:`SoakShape` build the sequence from a few
numbers (durations in seconds). :func:`build_shape` maps a scenario's
``shape: <kind>`` and its parameters to one of them.

Every shape exposes :meth:`StagedShape.current_stage`, so the metrics plugin
can log a ``stage`` event whenever the index changes. The library classes are
``abstract`` so importing them into a locustfile does not make Locust pick
them; subclass one (or let the scenario plugin set
``environment.shape_class``) to use it.

The open (arrival-rate) model lives in :mod:`loadkit.load.arrival`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import LoadTestShape

from loadkit.errors import ConfigError

__all__ = [
    "SHAPE_KINDS",
    "FieldChecks",
    "RampShape",
    "SoakShape",
    "SpikeShape",
    "Stage",
    "StagedShape",
    "StagesShape",
    "StepShape",
    "build_shape",
    "parse_stages",
]


@dataclass(frozen=True)
class Stage:
    """One stage of a shape: hold ``users`` (reached at ``spawn_rate``/s) for ``duration_s``."""

    index: int
    name: str | None
    users: int
    spawn_rate: float
    duration_s: float


class FieldChecks:
    """Validation helpers that raise ConfigError naming the field."""

    def __init__(self, source: str | None, prefix: str) -> None:
        self.source = source
        self.prefix = prefix

    def error(self, field: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(problem, source=self.source, field=f"{self.prefix}{field}", fix=fix)

    def number(
        self, field: str, value: Any, *, minimum: float = 0.0, strict: bool = False
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(field, f"{value!r} is not a number", "write a number, e.g. 30")
        if value < minimum or (strict and value == minimum):
            bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
            raise self.error(field, f"{value!r} is out of range", f"use a value {bound}")
        return float(value)

    def count(self, field: str, value: Any, *, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.error(field, f"{value!r} is not a whole number", "write e.g. 10")
        if value < minimum:
            raise self.error(field, f"{value!r} is out of range", f"use a value >= {minimum}")
        return int(value)


class StagedShape(LoadTestShape):
    """A shape made of a fixed sequence of stages; stops after the last one."""

    abstract: ClassVar[bool] = True

    def __init__(self, stages: Sequence[Stage]) -> None:
        super().__init__()
        if not stages:
            raise ConfigError("no stages", field="stages", fix="give at least one stage")
        self.stages: tuple[Stage, ...] = tuple(stages)
        ends: list[float] = []
        total = 0.0
        for stage in self.stages:
            total += stage.duration_s
            ends.append(total)
        self._ends = tuple(ends)

    @property
    def total_duration_s(self) -> float:
        return self._ends[-1]

    def stage_at(self, run_time_s: float) -> Stage | None:
        """The stage active ``run_time_s`` seconds into the run (None after the end)."""
        for stage, end in zip(self.stages, self._ends, strict=True):
            if run_time_s < end:
                return stage
        return None

    def current_stage(self) -> Stage | None:
        return self.stage_at(self.get_run_time())

    def tick(self) -> tuple[int, float] | None:
        stage = self.current_stage()
        if stage is None:
            return None
        return stage.users, stage.spawn_rate


def parse_stages(raw: Sequence[Mapping[str, Any]], *, source: str | None = None) -> list[Stage]:
    """``[{duration, users, spawn_rate?, name?}]`` → stages (durations in seconds).

    A missing ``spawn_rate`` keeps the previous stage's; the first stage
    defaults to reaching its users in one second.
    """
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        raise ConfigError(
            "must be a non-empty list",
            source=source,
            field="stages",
            fix="write e.g. [{duration: 30, users: 10, spawn_rate: 5}]",
        )
    stages: list[Stage] = []
    spawn_rate: float | None = None
    for index, item in enumerate(raw):
        check = FieldChecks(source, f"stages[{index}].")
        if not isinstance(item, Mapping):
            raise check.error("", f"{item!r} is not a mapping", "write {duration: 30, users: 10}")
        unknown = sorted(set(item) - {"duration", "users", "spawn_rate", "name"})
        if unknown:
            raise check.error(
                unknown[0], "unknown field", "use only duration, users, spawn_rate, name"
            )
        for required in ("duration", "users"):
            if required not in item:
                raise check.error(required, "is missing", f"add {required}: ...")
        users = check.count("users", item["users"])
        duration = check.number("duration", item["duration"], strict=True)
        if item.get("spawn_rate") is not None:
            spawn_rate = check.number("spawn_rate", item["spawn_rate"], strict=True)
        elif spawn_rate is None:
            spawn_rate = float(max(users, 1))
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise check.error("name", f"{name!r} is not text", "write a short name, e.g. steady")
        stages.append(Stage(index, name, users, spawn_rate, duration))
    return stages


def _numbered(specs: Sequence[tuple[str, int, float, float]]) -> list[Stage]:
    return [Stage(i, name, users, rate, dur) for i, (name, users, rate, dur) in enumerate(specs)]


class StagesShape(StagedShape):
    """Stages given as a list of mappings (a scenario's ``stages:``)."""

    abstract: ClassVar[bool] = True

    def __init__(self, stages: Sequence[Mapping[str, Any]], *, source: str | None = None) -> None:
        super().__init__(parse_stages(stages, source=source))


class RampShape(StagedShape):
    """Ramp linearly from 0 to ``users`` over ``ramp_s``, hold, optionally ramp down."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        users: int,
        ramp_s: float,
        hold_s: float = 0.0,
        ramp_down_s: float = 0.0,
        *,
        source: str | None = None,
    ) -> None:
        check = FieldChecks(source, "")
        users = check.count("users", users, minimum=1)
        ramp_s = check.number("ramp_s", ramp_s, strict=True)
        hold_s = check.number("hold_s", hold_s)
        ramp_down_s = check.number("ramp_down_s", ramp_down_s)
        specs = [("ramp", users, users / ramp_s, ramp_s)]
        if hold_s:
            specs.append(("hold", users, users / ramp_s, hold_s))
        if ramp_down_s:
            specs.append(("ramp-down", 0, users / ramp_down_s, ramp_down_s))
        super().__init__(_numbered(specs))


class StepShape(StagedShape):
    """``steps`` steps of ``step_users`` more users each, ``step_s`` seconds apart."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        step_users: int,
        steps: int,
        step_s: float,
        spawn_rate: float | None = None,
        start_users: int = 0,
        *,
        source: str | None = None,
    ) -> None:
        check = FieldChecks(source, "")
        step_users = check.count("step_users", step_users, minimum=1)
        steps = check.count("steps", steps, minimum=1)
        step_s = check.number("step_s", step_s, strict=True)
        start_users = check.count("start_users", start_users)
        rate = (
            float(step_users)
            if spawn_rate is None
            else check.number("spawn_rate", spawn_rate, strict=True)
        )
        specs = [
            (f"step {n}", start_users + step_users * n, rate, step_s) for n in range(1, steps + 1)
        ]
        super().__init__(_numbered(specs))


class SpikeShape(StagedShape):
    """Baseline, a sudden spike (or ``repeat`` bursts), then recovery at baseline.

    Stages: ``baseline`` (``base_s``), then per burst ``spike`` (``spike_s`` at
    ``spike_users``, spawned at ``spike_rate``/s) and ``recovery``
    (``recovery_s`` back at ``base_users``).
    """

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        base_users: int,
        spike_users: int,
        base_s: float,
        spike_s: float,
        recovery_s: float,
        spike_rate: float | None = None,
        repeat: int = 1,
        *,
        source: str | None = None,
    ) -> None:
        check = FieldChecks(source, "")
        base_users = check.count("base_users", base_users)
        spike_users = check.count("spike_users", spike_users, minimum=1)
        if spike_users <= base_users:
            raise check.error(
                "spike_users",
                f"{spike_users} is not above base_users ({base_users})",
                "make spike_users larger than base_users",
            )
        base_s = check.number("base_s", base_s, strict=True)
        spike_s = check.number("spike_s", spike_s, strict=True)
        recovery_s = check.number("recovery_s", recovery_s, strict=True)
        repeat = check.count("repeat", repeat, minimum=1)
        jump = float(spike_users - base_users)
        rate = jump if spike_rate is None else check.number("spike_rate", spike_rate, strict=True)
        base_rate = float(max(base_users, 1))
        specs = [("baseline", base_users, base_rate, base_s)]
        for n in range(1, repeat + 1):
            suffix = "" if repeat == 1 else f" {n}"
            specs.append((f"spike{suffix}", spike_users, rate, spike_s))
            specs.append((f"recovery{suffix}", base_users, rate, recovery_s))
        super().__init__(_numbered(specs))


class SoakShape(StagedShape):
    """A long steady state at ``users``, optionally after a slow ``ramp_s`` ramp."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        users: int,
        duration_s: float,
        ramp_s: float = 0.0,
        spawn_rate: float | None = None,
        *,
        source: str | None = None,
    ) -> None:
        check = FieldChecks(source, "")
        users = check.count("users", users, minimum=1)
        duration_s = check.number("duration_s", duration_s, strict=True)
        ramp_s = check.number("ramp_s", ramp_s)
        if spawn_rate is not None:
            rate = check.number("spawn_rate", spawn_rate, strict=True)
        else:
            rate = users / ramp_s if ramp_s else float(users)
        specs = [("steady", users, rate, duration_s)]
        if ramp_s:
            specs.insert(0, ("ramp", users, rate, ramp_s))
        super().__init__(_numbered(specs))


SHAPE_KINDS: dict[str, type[StagedShape]] = {
    "ramp": RampShape,
    "steps": StepShape,
    "spike": SpikeShape,
    "soak": SoakShape,
}


def build_shape(
    kind: str, params: Mapping[str, Any] | None = None, *, source: str | None = None
) -> StagedShape:
    """``shape: soak`` + ``{users: 50, duration_s: 3600}`` → a :class:`SoakShape`.

    ``kind`` ``"stages"`` takes ``params["stages"]``. Unknown kinds or
    parameters raise :class:`ConfigError` naming the field.
    """
    params = dict(params or {})
    if kind == "stages":
        return StagesShape(params.get("stages", []), source=source)
    if kind not in SHAPE_KINDS:
        raise ConfigError(
            f"unknown shape {kind!r}",
            source=source,
            field="shape",
            fix=f"use one of: stages, {', '.join(SHAPE_KINDS)}",
        )
    cls = SHAPE_KINDS[kind]
    accepted = [
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name not in ("self", "source") and p.kind is not p.VAR_KEYWORD
    ]
    for name in params:
        if name not in accepted:
            raise ConfigError(
                f"unknown parameter for shape {kind!r}",
                source=source,
                field=name,
                fix=f"use: {', '.join(accepted)}",
            )
    factory: Callable[..., StagedShape] = cls
    try:
        return factory(**params, source=source)
    except TypeError as exc:
        raise ConfigError(
            f"missing parameter for shape {kind!r} ({exc})",
            source=source,
            field="shape",
            fix=f"give: {', '.join(accepted)}",
        ) from None
