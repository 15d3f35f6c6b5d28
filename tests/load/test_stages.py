"""The pure load model, loadkit.load.stages: stages, the shape kinds, the arithmetic.

Nothing here imports Locust; the first test proves the module does not either.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loadkit.errors import ConfigError
from loadkit.load.stages import (
    SHAPE_KINDS,
    Stage,
    StagePlan,
    expand,
    parse_stages,
    shape_parameters,
)

# One valid parameter set per kind, and the stages it expands to.
KINDS: dict[str, tuple[dict[str, object], list[tuple[str, int, float, float]]]] = {
    "ramp": (
        {"users": 100, "ramp_s": 50, "hold_s": "30s", "ramp_down_s": 10},
        [("ramp", 100, 2.0, 50.0), ("hold", 100, 2.0, 30.0), ("ramp-down", 0, 10.0, 10.0)],
    ),
    "steps": (
        {"step_users": 5, "steps": 2, "step_s": "10s", "start_users": 2},
        [("step 1", 7, 5.0, 10.0), ("step 2", 12, 5.0, 10.0)],
    ),
    "spike": (
        {"base_users": 10, "spike_users": 100, "base_s": 30, "spike_s": 5, "recovery_s": "1m"},
        [("baseline", 10, 10.0, 30.0), ("spike", 100, 90.0, 5.0), ("recovery", 10, 90.0, 60.0)],
    ),
    "soak": (
        {"users": 50, "duration_s": "1h", "ramp_s": "5m"},
        [("ramp", 50, 50 / 300, 300.0), ("steady", 50, 50 / 300, 3600.0)],
    ),
}


def sequence(stages: tuple[Stage, ...]) -> list[tuple[str | None, int, float, float]]:
    return [(s.name, s.users, s.spawn_rate, s.duration_s) for s in stages]


def test_the_stage_model_and_the_scenario_reader_import_no_locust() -> None:
    code = (
        "import json, sys, loadkit.load.stages, loadkit.scenario.load;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'locust', 'gevent'})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_table_lists_every_kind_and_expands_each() -> None:
    assert set(SHAPE_KINDS) == set(KINDS)
    for kind, (params, expected) in KINDS.items():
        stages = expand(kind, params)
        assert sequence(stages) == expected, kind
        assert [s.index for s in stages] == list(range(len(expected)))
        accepted, required = shape_parameters(kind)
        assert set(required) <= set(params) <= set(accepted)


def test_duration_text_and_seconds_expand_alike() -> None:
    as_text = expand("soak", {"users": 5, "duration_s": "2m", "ramp_s": "10s"})
    assert as_text == expand("soak", {"users": 5, "duration_s": 120, "ramp_s": 10.0})


def test_a_plan_knows_its_length_peak_and_the_stage_at_any_time() -> None:
    plan = StagePlan(
        parse_stages(
            [
                {"duration": "20s", "users": 20, "spawn_rate": 10, "name": "warm"},
                {"duration": 60, "users": 50},
                {"duration": "10.5s", "users": 0, "spawn_rate": 25},
            ]
        )
    )
    assert plan.total_duration_s == 90.5
    assert plan.peak_users == 50 and plan.first_spawn_rate == 10.0
    assert plan.stage_at(0) == Stage(0, "warm", 20, 10.0, 20.0)
    assert plan.stage_at(19.99).index == 0
    assert plan.stage_at(20.0) == Stage(1, None, 50, 10.0, 60.0)  # spawn rate inherited
    assert plan.stage_at(90.4).index == 2
    assert plan.stage_at(90.5) is None
    assert list(plan) == list(plan.stages)
    with pytest.raises(ConfigError, match="no stages"):
        StagePlan(())


def test_stage_lists_normalise_numbers_and_names_and_round_trip() -> None:
    stages = parse_stages([{"duration": "500ms", "users": 4.0, "name": 1}])
    assert stages == (Stage(0, "1", 4, 4.0, 0.5),)
    assert parse_stages([s.as_dict() for s in stages]) == stages


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [
        (lambda: parse_stages("30s"), "stages", "must be a non-empty list of stages"),
        (lambda: parse_stages([5]), "stages[0]", "5 is not a mapping"),
        (
            lambda: parse_stages([{"duration": 5, "user": 1}]),
            "stages[0].user",
            "unknown key; did you mean 'users'?",
        ),
        (lambda: parse_stages([{"users": 1}]), "stages[0].duration", "is missing"),
        (
            lambda: parse_stages([{"duration": "abc", "users": 1}]),
            "stages[0].duration",
            "'abc' is not a duration",
        ),
        (lambda: parse_stages([{"duration": "0s", "users": 1}]), "stages[0].duration", "longer"),
        (
            lambda: parse_stages([{"duration": 5, "users": -1}]),
            "stages[0].users",
            "-1 is not a whole number >= 0",
        ),
        (
            lambda: parse_stages([{"duration": 5, "users": 1, "spawn_rate": 0}]),
            "stages[0].spawn_rate",
            "0 is not a number > 0",
        ),
        (
            lambda: parse_stages([{"duration": 5, "users": 1, "name": [1]}]),
            "stages[0].name",
            "[1] is not text",
        ),
        (
            lambda: expand("wave"),
            "shape",
            "unknown shape 'wave'; use one of: ramp, steps, spike, soak",
        ),
        (lambda: expand("ramps"), "shape", "unknown shape 'ramps'; did you mean 'ramp'?"),
        (
            lambda: expand("soak", {"users": 5, "duration": 5}),
            "duration",
            "unknown parameter for shape 'soak'; use: users, duration_s",
        ),
        (
            lambda: expand("soak", {"users": 5}),
            "shape",
            "missing parameter 'duration_s' for shape 'soak'",
        ),
        (lambda: expand("ramp", {"users": 5, "ramp_s": "soon"}), "ramp_s", "'soon' is not"),
        (lambda: expand("steps", {"step_users": 1, "steps": 0, "step_s": 5}), "steps", ">= 1"),
        (
            lambda: expand(
                "spike",
                {"base_users": 9, "spike_users": 9, "base_s": 1, "spike_s": 1, "recovery_s": 1},
            ),
            "spike_users",
            "9 is not above base_users (9)",
        ),
    ],
)
def test_errors_name_the_field_in_one_line(build, field, message) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert message in str(info.value), str(info.value)
    assert "\n" not in str(info.value) and info.value.fix
