"""Reading scenario files (loadkit.scenario.load): errors name file:line:field and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from loadkit.errors import EXIT_BAD_INPUT, ConfigError, ScenarioError
from loadkit.load.stages import SHAPE_KINDS, expand, parse_stages
from loadkit.scenario.load import load_scenario

ROOT = Path(__file__).resolve().parents[2]

LOCUSTFILE = """\
from locust import User, task


class AlphaUser(User):
    @task
    def noop(self):
        pass


class BetaUser(User):
    @task
    def noop(self):
        pass
"""


@pytest.fixture
def write(tmp_path: Path):
    """Write a scenario (and a tiny locustfile next to it); returns the scenario path."""
    (tmp_path / "users.py").write_text(LOCUSTFILE)

    def _write(text: str, name: str = "x.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


VALID = """\
name: demo
target: builtin
locustfile: users.py
users: {AlphaUser: 3, BetaUser: 1}
stages:
  - {duration: 2s, users: 4, spawn_rate: 2}
  - {duration: 1m, users: 8}
  - {name: cool, duration: 500ms, users: 0, spawn_rate: 8}
checks:
  - p95 < 250ms
baseline: baselines/demo.json
options: {poll-interval: 0.5, --verbose-flag: true}
interval: 2s
"""


def test_valid_scenario_parses_durations_defaults_and_paths(write, tmp_path) -> None:
    scenario = load_scenario(write(VALID))
    assert scenario.name == "demo"
    assert scenario.builtin_target
    assert scenario.locustfile == (tmp_path / "users.py").resolve()
    assert scenario.users == {"AlphaUser": 3, "BetaUser": 1}
    assert [s.duration_s for s in scenario.stages] == [2.0, 60.0, 0.5]
    assert [s.spawn_rate for s in scenario.stages] == [2.0, 2.0, 8.0]  # inherited, then given
    assert scenario.stages[2].name == "cool"
    assert scenario.duration_s == 62.5
    assert scenario.peak_users == 8
    assert scenario.interval_s == 2.0
    assert scenario.checks == ("p95 < 250ms",)
    assert scenario.locust_option_args() == ["--poll-interval", "0.5", "--verbose-flag"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID.replace("{duration: 1m, users: 8}", "{duration: abc, users: 8}"),
            "x.yaml:7: stages[1].duration: 'abc' is not a duration; write e.g. '500ms', '30s'",
        ),
        (
            VALID.replace("stages:", "stagess:"),
            "x.yaml:5: stagess: unknown key; did you mean 'stages'?",
        ),
        (
            VALID.replace("AlphaUser: 3", "AlphUser: 3"),
            "x.yaml:4: users.AlphUser: no user class 'AlphUser' in users.py; "
            "did you mean 'AlphaUser'?",
        ),
        (
            VALID.replace("users: 8}", "users: -1}"),
            "x.yaml:7: stages[1].users: -1 is not a whole number >= 0",
        ),
        (
            VALID.replace("{duration: 2s, users: 4, spawn_rate: 2}", "{duration: 2s, user: 4}"),
            "x.yaml:6: stages[0].user: unknown key; did you mean 'users'?",
        ),
        (
            VALID.replace(
                "options: {poll-interval: 0.5, --verbose-flag: true}", "options: {host: x}"
            ),
            "x.yaml:12: options.host: '--host' is set by loadkit run",
        ),
        (
            VALID.replace("target: builtin", "target: ftp://example"),
            "x.yaml:2: target: 'ftp://example' is not 'builtin' or an http(s) URL",
        ),
        (
            VALID.replace("interval: 2s", "interval: 0s"),
            "x.yaml:13: interval: must be longer than 0s",
        ),
        (
            VALID.replace("locustfile: users.py", "locustfile: nope.py"),
            "x.yaml:3: locustfile: ",
        ),
        (VALID + "shape: {kind: soak}\n", "x.yaml:14: shape: 'stages' and 'shape' both given"),
        (VALID.replace("name: demo", "name: 'bad name!'"), "x.yaml:1: name: 'bad name!'"),
        ("name: x\n  users: [\n", "x.yaml:2: not valid YAML"),
        ("- just\n- a list\n", "x.yaml:1: a scenario must be a YAML mapping"),
    ],
)
def test_errors_name_file_line_field_and_fix(write, text, expected) -> None:
    path = write(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path.parent}/{expected}"), message
    assert "\n" not in message


def test_missing_file_is_one_line(tmp_path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: no such file; check the path"):
        load_scenario(tmp_path / "nope.yaml")


def test_no_load_given(write) -> None:
    with pytest.raises(ScenarioError, match="no load given; add 'stages:'"):
        load_scenario(write("name: x\nlocustfile: users.py\n"))


def test_fault_errors_come_from_the_faults_part_with_a_line(write) -> None:
    text = VALID + textwrap.dedent(
        """\
        faults:
          - {name: slow, at: 5s, for: 2s, kind: app-latency, via: http, latency: 100ms}
          - {name: pause, at: 3 minutes, for: 5s, kind: pause, target: gateway}
        """
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(text))
    message = str(caught.value)
    assert ":16: faults[1]" in message and "'3 minutes' is not a duration" in message, message


def test_check_errors_come_from_the_reporters_parser_with_a_line(write) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(write(VALID.replace("p95 < 250ms", "p96 < 250ms")))
    message = str(caught.value)
    assert ":10: checks[0]: " in message and "unknown metric 'p96'" in message, message


def _loadkit_run(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_shape_parameters_are_checked_by_the_shapes_part(write, tmp_path) -> None:
    base = VALID.split("stages:")[0]
    good = write(base + "shape: {kind: soak, users: 5, duration_s: 2m, ramp_s: 10s}\n")
    scenario = load_scenario(good)
    assert scenario.shape == {"kind": "soak", "users": 5, "duration_s": 120.0, "ramp_s": 10.0}
    assert scenario.stages == ()
    plan = scenario.plan  # the full check, in this process: the stages module needs no Locust
    assert {
        "name": scenario.name, "duration_s": plan.total_duration_s,
        "peak_users": plan.peak_users, "first_spawn_rate": plan.first_spawn_rate,
    } == {
        "name": "demo", "duration_s": 130.0, "peak_users": 5, "first_spawn_rate": 0.5,
    }  # fmt: skip
    bad = write(base + "shape:\n  kind: soak\n  users: 5\n  duration: 2m\n", "bad.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    assert str(caught.value).startswith(f"{bad}:8: shape.duration: unknown parameter")
    proc = _loadkit_run(bad, tmp_path / "reports")
    assert proc.returncode == EXIT_BAD_INPUT
    assert f"{bad}:8: shape.duration: unknown parameter" in proc.stderr, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()  # nothing started
    with pytest.raises(ScenarioError, match=r"shape\.kind: unknown shape 'ramps'; did you mean"):
        load_scenario(write(base + "shape: {kind: ramps}\n"))


def test_default_locustfile_is_chosen_from_the_user_classes(write) -> None:
    text = "name: w\nusers: {WorkspaceUser: 1}\nstages: [{duration: 1s, users: 1}]\n"
    if not (ROOT / "locustfiles" / "workspace.py").exists():
        pytest.skip("locustfiles/workspace.py is not there yet")
    assert load_scenario(write(text)).locustfile == ROOT / "locustfiles" / "workspace.py"


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description
    if scenario.shape is not None:
        assert scenario.plan.total_duration_s > 0  # the shape's parameters expand
    else:
        assert scenario.stages


def test_shipped_scenarios_exist() -> None:
    names = {p.name for p in (ROOT / "scenarios").glob("*.yaml")}
    assert "quickstart.yaml" in names


def test_loadkit_run_with_a_bad_scenario_exits_2_with_one_line(write, tmp_path) -> None:
    path = write(VALID.replace("{duration: 1m, users: 8}", "{duration: abc, users: 8}"))
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{path}:7: stages[1].duration: 'abc' is not a duration" in proc.stderr
    assert not (tmp_path / "reports").exists()  # validated before anything started


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--users", "0"], "--users: 0 is not >= 1"),
        (["--duration", "soon"], "--duration: 'soon' is not a duration"),
        (["--workers", "-1"], "--workers: -1 is out of range"),
        (["--baseline", "nope"], "baselines/nope.json: not found; save one with"),
        (
            ["--target", "localhost:80"],
            "--target: 'localhost:80' is not 'builtin' or an http(s) URL",
        ),
    ],
)
def test_loadkit_run_bad_flags_exit_2(write, tmp_path, flags, expected) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(write(VALID)), *flags,
         "--out", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "reports").exists()


# -- one table of shape kinds: a scenario and Python validate each kind alike ----------

SHAPES: dict[str, tuple[dict[str, object], dict[str, object]]] = {  # kind: (good, bad)
    "ramp": ({"users": 10, "ramp_s": "5s", "hold_s": "1m"}, {"users": 0, "ramp_s": "5s"}),
    "steps": (
        {"step_users": 2, "steps": 3, "step_s": "10s", "spawn_rate": 1},
        {"step_users": 2, "steps": 0, "step_s": 10},
    ),
    "spike": (
        {"base_users": 1, "spike_users": 9, "base_s": 2, "spike_s": 1, "recovery_s": 3},
        {"base_users": 9, "spike_users": 9, "base_s": 2, "spike_s": 1, "recovery_s": 3},
    ),
    "soak": ({"users": 3, "duration_s": "2m", "ramp_s": 30}, {"users": 3, "duration_s": "2 min"}),
}


def _shape_scenario(write, kind: str, params: dict[str, object]) -> Path:
    base = VALID.split("stages:")[0]
    return write(base + yaml.safe_dump({"shape": {"kind": kind, **params}}), f"{kind}.yaml")


def test_every_kind_of_the_table_is_accepted_by_scenarios() -> None:
    assert set(SHAPES) == set(SHAPE_KINDS)


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_a_shape_kind_validates_alike_from_a_scenario_and_from_python(write, kind) -> None:
    good, bad = SHAPES[kind]
    scenario = load_scenario(_shape_scenario(write, kind, good))
    assert scenario.plan.stages == expand(kind, good)
    assert scenario.duration_s == sum(s.duration_s for s in expand(kind, good))
    with pytest.raises(ConfigError) as python:
        expand(kind, bad)
    path = _shape_scenario(write, kind, bad)
    with pytest.raises(ScenarioError) as from_file:
        load_scenario(path)
    field = python.value.field or ""
    assert from_file.value.field == ("shape" if field == "shape" else f"shape.{field}")
    assert (from_file.value.problem, from_file.value.fix) == (
        python.value.problem,
        python.value.fix,
    )
    assert from_file.value.source == str(path) and from_file.value.line is not None


@pytest.mark.parametrize(
    "stage",
    [
        {"duration": "abc", "users": 1},
        {"duration": "0s", "users": 1},
        {"duration": 5, "users": -1},
        {"duration": 5, "users": 1.5},
        {"duration": 5, "users": 1, "spawn_rate": 0},
        {"duration": 5, "users": 1, "rate": 3},
        {"users": 1},
        {"duration": 5, "users": 1, "name": [1]},
    ],
)
def test_a_stage_validates_alike_from_a_scenario_and_from_python(write, stage) -> None:
    stages = [{"duration": "1s", "users": 2}, stage]
    with pytest.raises(ConfigError) as python:
        parse_stages(stages)
    base = VALID.split("stages:")[0]
    path = write(base + yaml.safe_dump({"stages": stages}))
    with pytest.raises(ScenarioError) as from_file:
        load_scenario(path)
    assert python.value.field is not None and python.value.field.startswith("stages[1]")
    assert from_file.value.field == python.value.field
    assert (from_file.value.problem, from_file.value.fix) == (
        python.value.problem,
        python.value.fix,
    )
    assert from_file.value.line is not None and from_file.value.line > 5


def test_a_stage_list_is_not_a_shape_kind_in_a_scenario(write) -> None:
    base = VALID.split("stages:")[0]
    with pytest.raises(ScenarioError, match=r"shape\.kind: unknown shape 'stages'; write the list"):
        load_scenario(write(base + "shape: {kind: stages, stages: [{duration: 1, users: 1}]}\n"))
