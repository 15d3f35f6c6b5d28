"""Load shapes: stage sequences, validation, and the open (arrival-rate) model."""

from __future__ import annotations

import gevent
import locust  # noqa: F401  (gevent patching, as in a Locust process)
import pytest

from loadkit.errors import ConfigError
from loadkit.load.arrival import ArrivalRate, IterationDropped
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


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def fire(self, *, reverse: bool = False, **kwargs) -> None:
        self.events.append(kwargs)


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
        (lambda: ArrivalRate(rate_per_s=0), "arrival.rate_per_s"),
        (lambda: ArrivalRate(rate_per_s=5, max_in_flight=0), "arrival.max_in_flight"),
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


def test_arrival_rate_starts_the_scheduled_count_and_fires_iter_events() -> None:
    hook = Recorder()
    calls: list[int] = []
    started, dropped = ArrivalRate(rate_per_s=50, duration_s=0.5, name="echo").run(
        lambda: calls.append(1), hook
    )
    assert (started, dropped) == (25, 0) and len(calls) == 25
    assert [e["name"] for e in hook.events] == ["echo"] * 25
    assert all(e["request_type"] == "ITER" and e["exception"] is None for e in hook.events)


def test_arrival_rate_counts_iterations_that_could_not_start_on_time() -> None:
    hook = Recorder()
    started, dropped = ArrivalRate(rate_per_s=40, max_in_flight=1, duration_s=0.5).run(
        lambda: gevent.sleep(1), hook
    )
    assert started + dropped == 20 and started >= 1 and dropped >= 10
    drops = [e for e in hook.events if e["name"] == "iteration dropped"]
    assert len(drops) == dropped
    assert all(isinstance(e["exception"], IterationDropped) for e in drops)


def test_arrival_rate_iteration_errors_are_failures_not_crashes() -> None:
    hook = Recorder()

    def boom() -> None:
        raise RuntimeError("broken check")

    ArrivalRate(rate_per_s=20, duration_s=0.2).run(boom, hook)
    assert len(hook.events) == 4
    assert all(isinstance(e["exception"], RuntimeError) for e in hook.events)


@pytest.mark.parametrize(("correct", "second_ms"), [(True, 9900.0), (False, 5000.0)])
def test_latency_from_the_intended_start_corrects_coordinated_omission(correct, second_ms):
    """A fake clock: each iteration takes 5 s, so the second one starts 4.9 s late."""
    now = [100.0]

    def slow_iteration() -> None:
        now[0] += 5.0

    hook = Recorder()
    ArrivalRate(rate_per_s=10, duration_s=0.2, correct_omission=correct).run(
        slow_iteration, hook, clock=lambda: now[0]
    )
    times = [round(e["response_time"], 3) for e in hook.events]
    assert times == [5000.0, second_ms]


def test_open_model_user_runs_its_schedule_inside_a_real_locust_environment() -> None:
    from locust import constant
    from locust.env import Environment

    from loadkit.load.arrival import OpenModelUser

    done: list[float] = []

    class Ticker(OpenModelUser):
        wait_time = constant(0)
        arrival = ArrivalRate(rate_per_s=20, duration_s=0.5, name="tick")

        def iteration(self) -> None:
            done.append(1.0)

    env = Environment(user_classes=[Ticker])
    runner = env.create_local_runner()
    try:
        runner.start(2, spawn_rate=2)
        deadline = gevent.get_hub().loop.now() + 60
        while len(done) < 20 and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.1)
    finally:
        runner.quit()
    assert len(done) == 20  # 2 users x 10 iterations, then each idles until stopped
    assert env.stats.get("tick", "ITER").num_requests == 20
    assert env.stats.get("tick", "ITER").num_failures == 0
