"""`loadkit run` plans a shape scenario's length in its own process: no child, no Locust."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCENARIO = """\
name: spiky
locustfile: users.py
users: {AlphaUser: 1}
shape: {kind: spike, base_users: 2, spike_users: 10, base_s: 30s, spike_s: 5s,
        recovery_s: 1m, repeat: 2}
"""
# Runs in a fresh interpreter (pytest's conftest imports Locust): any child process
# fails the plan, and the modules loaded afterwards are reported.
PLAN = """\
import argparse, json, subprocess, sys

def no_child(*args, **kwargs):
    raise AssertionError(f"make_plan started a child process: {args!r}")

subprocess.run = subprocess.Popen = no_child
from loadkit.run.command import register
from loadkit.run.plan import make_plan

parser = argparse.ArgumentParser()
register(parser.add_subparsers())
plan = make_plan(parser.parse_args(["run", *sys.argv[1:]]))
print(json.dumps({
    "planned_s": plan.planned_s, "users": plan.users, "spawn_rate": plan.spawn_rate,
    "duration_s": plan.duration_s,
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & {"locust", "gevent"}),
}))
"""


def plan_of(tmp_path: Path, *flags: str) -> dict[str, object]:
    (tmp_path / "users.py").write_text(
        "from locust import User\n\n\nclass AlphaUser(User):\n    pass\n"
    )
    path = tmp_path / "spiky.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    proc = subprocess.run(
        [sys.executable, "-c", PLAN, str(path), *flags],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_a_shape_scenario_is_planned_without_a_child_process_or_locust(tmp_path) -> None:
    plan = plan_of(tmp_path)
    assert plan["planned_s"] == 30 + 2 * (5 + 60)  # baseline, then 2 x (spike, recovery)
    assert plan["users"] is None and plan["duration_s"] is None
    assert plan["loaded"] == []


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--users", "4"], (4, 2.0, 160.0)),  # the baseline stage's spawn rate, the length
        (["--duration", "20s"], (10, 2.0, 20.0)),  # the shape's peak users
        (["--users", "3", "--spawn-rate", "1", "--duration", "5s"], (3, 1.0, 5.0)),
    ],
)
def test_overrides_take_their_defaults_from_the_shape(tmp_path, flags, expected) -> None:
    plan = plan_of(tmp_path, *flags)
    assert (plan["users"], plan["spawn_rate"], plan["duration_s"]) == expected
    assert plan["planned_s"] == expected[2]
    assert plan["loaded"] == []
