"""The scenario's Locust seam, in real headless Locust runs of a few seconds.

The locustfile here wires only the scenario part (not metrics or faults) and
records what Locust really did: the shape it ran, the user classes and weights,
and the most users it saw at once, written at ``quitting``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

LOCUSTFILE = """\
import json
import os
import signal
import os
import signal

import gevent
from locust import LoadTestShape, User, constant, events, task

from loadkit.plugin.context import plugin_context
from loadkit.scenario import plugin as scenario_plugin

seen = {"max_users": 0, "max_classes": {}}


@events.init_command_line_parser.add_listener
def _args(parser):
    scenario_plugin.add_arguments(parser)


@events.init.add_listener
def _init(environment, **_kwargs):
    scenario_plugin.attach(plugin_context(environment))
    shape = environment.shape_class
    seen["shape"] = type(shape).__name__ if shape is not None else None
    seen["user_classes"] = sorted(c.__name__ for c in environment.user_classes)
    seen["weights"] = {c.__name__: c.weight for c in environment.user_classes}

    def sample():
        while True:
            count = environment.runner.user_count
            if count > seen["max_users"]:
                seen["max_users"] = count
                seen["max_classes"] = dict(environment.runner.user_classes_count)
            gevent.sleep(0.05)

    gevent.spawn(sample)


@events.test_start.add_listener
def _started(environment, **_kwargs):
    open(os.environ["SEEN_FILE"] + ".started", "w").close()


@events.quitting.add_listener
def _quit(environment, **_kwargs):
    with open(os.environ["SEEN_FILE"], "w") as handle:
        json.dump(seen, handle)


class AlphaUser(User):
    wait_time = constant(0.1)

    @task
    def noop(self):
        pass


class BetaUser(AlphaUser):
    pass


class GammaUser(AlphaUser):
    pass
"""

OWN_SHAPE = """

class TwoUsersForAMoment(LoadTestShape):
    def tick(self):
        return (2, 2) if self.get_run_time() < 1.5 else None
"""

SCENARIO = """\
name: plugin-demo
locustfile: users.py
users: {AlphaUser: 3, BetaUser: 1}
stages:
  - {duration: 1.5s, users: 4, spawn_rate: 20}
  - {duration: 1.5s, users: 8, spawn_rate: 20}
"""


def _run_locust(
    tmp_path: Path, *extra: str, locustfile: str = LOCUSTFILE, scenario: str = SCENARIO
):
    (tmp_path / "users.py").write_text(locustfile)
    (tmp_path / "x.yaml").write_text(textwrap.dedent(scenario))
    seen_file = tmp_path / "seen.json"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(tmp_path / "users.py"), "--headless",
         "--only-summary", "--loadkit-scenario", str(tmp_path / "x.yaml"), *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
        env=dict(os.environ, SEEN_FILE=str(seen_file)),
    )  # fmt: skip
    seen = json.loads(seen_file.read_text()) if seen_file.exists() else None
    return proc, seen


def test_scenario_stages_become_the_shape_and_select_weighted_users(tmp_path) -> None:
    proc, seen = _run_locust(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert seen is not None
    assert seen["shape"] == "StagesShape"
    assert seen["user_classes"] == ["AlphaUser", "BetaUser"]  # GammaUser left out
    assert seen["weights"] == {"AlphaUser": 3, "BetaUser": 1}
    assert seen["max_users"] == 8  # the second stage was reached, then the shape ended the run
    assert seen["max_classes"] == {"AlphaUser": 6, "BetaUser": 2}


def test_a_shape_in_the_locustfile_wins_over_the_scenario(tmp_path) -> None:
    proc, seen = _run_locust(tmp_path, locustfile=LOCUSTFILE + OWN_SHAPE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert seen["shape"] == "TwoUsersForAMoment"
    assert seen["max_users"] == 2
    assert "the locustfile's shape TwoUsersForAMoment wins" in proc.stderr


def test_users_flag_replaces_the_load_with_one_stage(tmp_path) -> None:
    proc, seen = _run_locust(tmp_path, "-u", "3", "-r", "10", "-t", "2s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert seen["shape"] == "StagesShape"
    assert seen["max_users"] == 3


def test_bad_scenario_inside_locust_is_one_line_and_exit_2(tmp_path) -> None:
    bad = SCENARIO.replace("duration: 1.5s, users: 8", "duration: soon, users: 8")
    proc, seen = _run_locust(tmp_path, scenario=bad)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert seen is None  # Locust never ran
    assert "x.yaml:6: stages[1].duration: 'soon' is not a duration" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sigterm_ends_a_headless_shape_run_gracefully(tmp_path) -> None:
    # Locust installs its own SIGTERM handler only after a headless shape ends;
    # the scenario plugin's handler must make SIGTERM quit cleanly before that.
    (tmp_path / "users.py").write_text(LOCUSTFILE)
    (tmp_path / "x.yaml").write_text(
        SCENARIO.replace("duration: 1.5s, users: 8", "duration: 5m, users: 8")
    )
    seen_file = tmp_path / "seen.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(tmp_path / "users.py"), "--headless",
         "--only-summary", "--loadkit-scenario", str(tmp_path / "x.yaml")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, SEEN_FILE=str(seen_file)),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{seen_file}.started").exists():
            assert time.monotonic() < deadline, "the run did not start"
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "loadkit: SIGTERM: stopping the run" in err
    assert seen_file.exists()  # Locust's quitting event ran: faults would be reverted here


def test_the_scenario_hands_on_its_faults_as_specs_with_file_and_line(tmp_path: Path) -> None:
    from loadkit.run.proxy import needs_proxy
    from loadkit.scenario.load import load_scenario

    (tmp_path / "lf.py").write_text(LOCUSTFILE)
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nlocustfile: lf.py\nusers: {AlphaUser: 1}\nstages:\n  - {duration: 1s, users: 1}\n"
        "faults:\n"
        "  - {name: net, at: 1s, for: 1s, kind: latency, via: proxy, latency: 100ms}\n"
        "  - {name: gw, at: 2s, for: 1s, kind: pause, target: gateway}\n"
    )
    scenario = load_scenario(path)
    assert [(f.name, f.where) for f in scenario.faults] == [
        ("net", f"{path}:7"),
        ("gw", f"{path}:8"),
    ]
    assert scenario.faults[0].params["latency"] == 0.1  # normalised once, at load
    assert needs_proxy(scenario.faults)
    assert not needs_proxy(scenario.faults[1:])
