"""The typed scenario (loadkit.scenario.model): its plan, length and Locust arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadkit.errors import ConfigError
from loadkit.load.stages import Stage
from loadkit.scenario.model import Scenario, default_scenario_path, project_root


def scenario(**fields: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "s",
        "source": Path("/tmp/s.yaml"),
        "target": "builtin",
        "locustfile": Path("/tmp/users.py"),
        "users": {},
    }
    return Scenario(**{**base, **fields})


def test_stages_are_the_plan_as_written() -> None:
    stages = (Stage(0, "warm", 4, 2.0, 10.0), Stage(1, None, 8, 2.0, 50.0))
    s = scenario(stages=stages)
    assert s.plan.stages == stages and s.shape_params == {}
    assert (s.duration_s, s.peak_users) == (60.0, 8)


def test_a_shape_is_expanded_into_the_plan() -> None:
    s = scenario(shape={"kind": "ramp", "users": 10, "ramp_s": 5.0, "ramp_down_s": 5.0})
    assert s.shape_params == {"users": 10, "ramp_s": 5.0, "ramp_down_s": 5.0}
    assert [(x.name, x.users) for x in s.plan] == [("ramp", 10), ("ramp-down", 0)]
    assert (s.duration_s, s.peak_users, s.plan.first_spawn_rate) == (10.0, 10, 2.0)
    with pytest.raises(ConfigError, match=r"^/tmp/s\.yaml: users: 0 is not a whole number"):
        _ = scenario(shape={"kind": "soak", "users": 0, "duration_s": 1.0}).plan


def test_options_become_locust_arguments_and_paths_are_absolute() -> None:
    s = scenario(options={"poll-interval": 0.5, "verbose": True, "quiet": False})
    assert s.locust_option_args() == ["--poll-interval", "0.5", "--verbose"]
    assert s.path == s.source and s.builtin_target
    assert default_scenario_path() == project_root() / "scenarios" / "quickstart.yaml"
