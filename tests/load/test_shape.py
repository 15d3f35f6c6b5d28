"""The Locust adapters of loadkit.load.shape: stage sequences, validation, tick, Locust's picker."""

from __future__ import annotations

import locust  # noqa: F401  (gevent patching, as in a Locust process)
import pytest

from loadkit.errors import ConfigError
from loadkit.load.shape import (
    RampShape,
    SoakShape,
    SpikeShape,
    Stage,
    StagedShape,
    StagesShape,
    StepShape,
    build_shape,
)


def sequence(shape: StagedShape) -> list[tuple[str | None, int, float, float]]:
    return [(s.name, s.users, s.spawn_rate, s.duration_s) for s in shape.stages]


def test_stages_from_a_list_inherit_spawn_rate_and_stop_after_the_end() -> None:
    shape = StagesShape(
        [
            {"duration": 20, "users": 20, "spawn_rate": 10, "name": "warm"},
            {"duration": 60, "users": 50},
            {"duration": 10.5, "users": 0, "spawn_rate": 25},
        ]
    )
    assert sequence(shape) == [
        ("warm", 20, 10.0, 20.0),
        (None, 50, 10.0, 60.0),
        (None, 0, 25.0, 10.5),
    ]
    assert shape.total_duration_s == 90.5
    assert shape.stage_at(0) == Stage(0, "warm", 20, 10.0, 20.0)
    assert shape.stage_at(19.99).index == 0
    assert shape.stage_at(20.0).index == 1
    assert shape.stage_at(90.4).index == 2
    assert shape.stage_at(90.5) is None


def test_first_stage_without_spawn_rate_reaches_its_users_in_one_second() -> None:
    assert StagesShape([{"duration": 5, "users": 8}]).stages[0].spawn_rate == 8.0


def test_tick_follows_the_clock_and_returns_none_at_the_end() -> None:
    shape = StagesShape(
        [
            {"duration": 10, "users": 3, "spawn_rate": 1},
            {"duration": 10, "users": 6, "spawn_rate": 2},
        ]
    )
    shape.start_time -= 12  # 12 s into the run
    assert shape.tick() == (6, 2.0)
    assert shape.current_stage().index == 1
    shape.start_time -= 10
    assert shape.tick() is None and shape.current_stage() is None


def test_ramp_steps_spike_soak_sequences() -> None:
    assert sequence(RampShape(users=100, ramp_s=50, hold_s=30, ramp_down_s=10)) == [
        ("ramp", 100, 2.0, 50.0),
        ("hold", 100, 2.0, 30.0),
        ("ramp-down", 0, 10.0, 10.0),
    ]
    assert sequence(RampShape(users=10, ramp_s=5)) == [("ramp", 10, 2.0, 5.0)]
    assert sequence(StepShape(step_users=5, steps=3, step_s=10, start_users=2)) == [
        ("step 1", 7, 5.0, 10.0),
        ("step 2", 12, 5.0, 10.0),
        ("step 3", 17, 5.0, 10.0),
    ]
    assert sequence(
        SpikeShape(base_users=10, spike_users=100, base_s=30, spike_s=5, recovery_s=60)
    ) == [("baseline", 10, 10.0, 30.0), ("spike", 100, 90.0, 5.0), ("recovery", 10, 90.0, 60.0)]
    burst = SpikeShape(
        base_users=0, spike_users=20, base_s=5, spike_s=2, recovery_s=3, spike_rate=40, repeat=2
    )
    assert [s.name for s in burst.stages] == [
        "baseline",
        "spike 1",
        "recovery 1",
        "spike 2",
        "recovery 2",
    ]
    assert [s.index for s in burst.stages] == [0, 1, 2, 3, 4]
    assert sequence(SoakShape(users=50, duration_s=3600, ramp_s=300)) == [
        ("ramp", 50, 50 / 300, 300.0),
        ("steady", 50, 50 / 300, 3600.0),
    ]
    assert sequence(SoakShape(users=50, duration_s=60)) == [("steady", 50, 50.0, 60.0)]


def test_build_shape_from_a_scenario_kind_and_params() -> None:
    shape = build_shape("soak", {"users": 5, "duration_s": 30, "ramp_s": 10})
    assert isinstance(shape, SoakShape) and [s.name for s in shape.stages] == ["ramp", "steady"]
    stages = build_shape("stages", {"stages": [{"duration": 1, "users": 1}]})
    assert isinstance(stages, StagesShape)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: StagesShape([]), "stages"),
        (lambda: StagesShape([{"duration": 5}]), "stages[0].users"),
        (
            lambda: StagesShape([{"duration": 5, "users": 1}, {"duration": 0, "users": 2}]),
            "stages[1].duration",
        ),
        (lambda: StagesShape([{"duration": "5 minutes", "users": 1}]), "stages[0].duration"),
        (lambda: StagesShape([{"duration": 5, "users": -1}]), "stages[0].users"),
        (lambda: StagesShape([{"duration": 5, "users": 1.5}]), "stages[0].users"),
        (lambda: StagesShape([{"duration": 5, "users": 1, "rate": 3}]), "stages[0].rate"),
        (lambda: RampShape(users=0, ramp_s=5), "users"),
        (lambda: StepShape(step_users=1, steps=0, step_s=5), "steps"),
        (
            lambda: SpikeShape(base_users=10, spike_users=5, base_s=1, spike_s=1, recovery_s=1),
            "spike_users",
        ),
        (lambda: SoakShape(users=5, duration_s=-1), "duration_s"),
        (lambda: build_shape("wave", {}), "shape"),
        (lambda: build_shape("soak", {"users": 5, "duration_s": 5, "hours": 2}), "hours"),
        (lambda: build_shape("soak", {"users": 5}), "shape"),
    ],
)
def test_invalid_parameters_raise_config_error_naming_the_field(build, field) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert "\n" not in str(info.value) and info.value.fix


def test_config_error_carries_the_scenario_source() -> None:
    with pytest.raises(ConfigError, match=r"^s\.yaml: stages\[0\]\.users: "):
        StagesShape([{"duration": 1, "users": "many"}], source="s.yaml")


def test_library_shapes_are_not_picked_by_locust_from_a_locustfile() -> None:
    from locust.util.load_locustfile import is_shape_class

    for cls in (StagedShape, StagesShape, RampShape, StepShape, SpikeShape, SoakShape):
        assert not is_shape_class(cls)

    class MySoak(SoakShape):
        def __init__(self) -> None:
            super().__init__(users=3, duration_s=5)

    assert is_shape_class(MySoak) and MySoak().tick() == (3, 3.0)


def test_every_kind_of_the_table_has_its_adapter_with_the_same_stages() -> None:
    from loadkit.load.shape import SHAPE_CLASSES
    from loadkit.load.stages import SHAPE_KINDS, expand

    kinds: dict[str, dict[str, object]] = {
        "ramp": {"users": 10, "ramp_s": "5s", "hold_s": 3},
        "steps": {"step_users": 2, "steps": 3, "step_s": 4},
        "spike": {"base_users": 1, "spike_users": 5, "base_s": 2, "spike_s": 1, "recovery_s": 2},
        "soak": {"users": 3, "duration_s": "1m"},
    }
    assert SHAPE_CLASSES.keys() == SHAPE_KINDS.keys() == kinds.keys()
    for kind, params in kinds.items():
        shape = build_shape(kind, params, source="s.yaml")
        assert type(shape) is SHAPE_CLASSES[kind]
        assert shape.stages == expand(kind, params)
        assert shape.total_duration_s == sum(s.duration_s for s in shape.stages)


def test_stages_shape_takes_stage_objects_as_they_are() -> None:
    stages = (Stage(0, "override", 4, 2.0, 30.0),)
    shape = StagesShape(stages)
    assert shape.stages == stages and shape.tick() == (4, 2.0)
