"""Load shapes for Locust: the ``LoadTestShape`` adapter over :mod:`loadkit.load.stages`.

Closed model (Locust ``LoadTestShape``): a run is a sequence of
:class:`~loadkit.load.stages.Stage` s. :class:`StagesShape` takes the stages as
given (a scenario's ``stages:`` list); :class:`RampShape`, :class:`StepShape`,
:class:`SpikeShape` and :class:`SoakShape` build the sequence from a few
numbers (durations in seconds). :func:`build_shape` maps a scenario's
``shape: <kind>`` and its parameters to one of them. The stages, their
validation and the arithmetic live in :mod:`loadkit.load.stages` (no Locust);
this module only answers Locust's ``tick()`` from the run's clock.

Every shape exposes :meth:`StagedShape.current_stage`, so the metrics plugin
can log a ``stage`` event whenever the index changes. The library classes are
``abstract`` so importing them into a locustfile does not make Locust pick
them; subclass one (or let the scenario plugin set
``environment.shape_class``) to use it.

The open (arrival-rate) model lives in :mod:`loadkit.load.arrival`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from locust import LoadTestShape

from loadkit.load import stages as pure
from loadkit.load.stages import SHAPE_KINDS, FieldChecks, Stage, StagePlan, parse_stages

__all__ = [
    "SHAPE_CLASSES",
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


class StagedShape(LoadTestShape):
    """A shape made of a fixed sequence of stages; stops after the last one."""

    abstract: ClassVar[bool] = True

    def __init__(self, stages: Sequence[Stage]) -> None:
        super().__init__()
        self.plan = StagePlan(tuple(stages))

    @property
    def stages(self) -> tuple[Stage, ...]:
        return self.plan.stages

    @property
    def total_duration_s(self) -> float:
        return self.plan.total_duration_s

    def stage_at(self, run_time_s: float) -> Stage | None:
        """The stage active ``run_time_s`` seconds into the run (None after the end)."""
        return self.plan.stage_at(run_time_s)

    def current_stage(self) -> Stage | None:
        return self.plan.stage_at(self.get_run_time())

    def tick(self) -> tuple[int, float] | None:
        stage = self.current_stage()
        return None if stage is None else (stage.users, stage.spawn_rate)


class StagesShape(StagedShape):
    """Stages given as a list of mappings (a scenario's ``stages:``) or of :class:`Stage` s."""

    abstract: ClassVar[bool] = True

    def __init__(
        self, stages: Sequence[Mapping[str, Any] | Stage], *, source: str | None = None
    ) -> None:
        if stages and all(isinstance(s, Stage) for s in stages):
            super().__init__([s for s in stages if isinstance(s, Stage)])
        else:
            super().__init__(parse_stages(stages, source=source))


class RampShape(StagedShape):
    """Ramp linearly from 0 to ``users`` over ``ramp_s``, hold, optionally ramp down."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        users: int,
        ramp_s: float | str,
        hold_s: float | str = 0.0,
        ramp_down_s: float | str = 0.0,
        *,
        source: str | None = None,
    ) -> None:
        super().__init__(pure.ramp(users, ramp_s, hold_s, ramp_down_s, source=source))


class StepShape(StagedShape):
    """``steps`` steps of ``step_users`` more users each, ``step_s`` seconds apart."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        step_users: int,
        steps: int,
        step_s: float | str,
        spawn_rate: float | None = None,
        start_users: int = 0,
        *,
        source: str | None = None,
    ) -> None:
        super().__init__(
            pure.steps(step_users, steps, step_s, spawn_rate, start_users, source=source)
        )


class SpikeShape(StagedShape):
    """Baseline, a sudden spike (or ``repeat`` bursts), then recovery at baseline."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        base_users: int,
        spike_users: int,
        base_s: float | str,
        spike_s: float | str,
        recovery_s: float | str,
        spike_rate: float | None = None,
        repeat: int = 1,
        *,
        source: str | None = None,
    ) -> None:
        super().__init__(
            pure.spike(
                base_users,
                spike_users,
                base_s,
                spike_s,
                recovery_s,
                spike_rate,
                repeat,
                source=source,
            )
        )


class SoakShape(StagedShape):
    """A long steady state at ``users``, optionally after a slow ``ramp_s`` ramp."""

    abstract: ClassVar[bool] = True

    def __init__(
        self,
        users: int,
        duration_s: float | str,
        ramp_s: float | str = 0.0,
        spawn_rate: float | None = None,
        *,
        source: str | None = None,
    ) -> None:
        super().__init__(pure.soak(users, duration_s, ramp_s, spawn_rate, source=source))


#: The Locust adapter of each kind of :data:`~loadkit.load.stages.SHAPE_KINDS`.
SHAPE_CLASSES: Mapping[str, type[StagedShape]] = {
    "ramp": RampShape,
    "steps": StepShape,
    "spike": SpikeShape,
    "soak": SoakShape,
}


def build_shape(
    kind: str, params: Mapping[str, Any] | None = None, *, source: str | None = None
) -> StagedShape:
    """``shape: soak`` + ``{users: 50, duration_s: 3600}`` → a :class:`SoakShape`.

    ``kind`` ``"stages"`` takes ``params["stages"]`` (a :class:`StagesShape`);
    the other kinds are :data:`~loadkit.load.stages.SHAPE_KINDS`, checked by
    :func:`loadkit.load.stages.expand` (unknown kinds or parameters raise
    :class:`~loadkit.errors.ConfigError` naming the field).
    """
    params = dict(params or {})
    if kind == "stages":
        return StagesShape(params.get("stages", []), source=source)
    pure.expand(kind, params, source=source)  # the one validation, before the adapter
    factory: Callable[..., StagedShape] = SHAPE_CLASSES[kind]
    return factory(**params, source=source)
