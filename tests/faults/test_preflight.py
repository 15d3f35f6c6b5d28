"""Faults that cannot happen in this run are refused before anything starts (exit 2, one line).

Also: the listeners loadkit owns bind loopback unless the user opts in.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loadkit.errors import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
name: preflight
target: {target}
users: {{WorkspaceUser: 1}}
stages:
  - {{name: steady, duration: 5s, users: 1, spawn_rate: 1}}
faults:
  - {fault}
"""


def _run(tmp_path: Path, fault: str, target: str = "builtin", *args: str):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(textwrap.dedent(BASE.format(target=target, fault=fault)))
    out = str(tmp_path / "r")
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", out, *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def _one_line_error(proc) -> str:
    assert proc.returncode == EXIT_BAD_INPUT, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert not (Path(proc.args[-1]).exists()), "nothing may start (no run directory)"
    return lines[0]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("{name: late, at: 1h, for: 5s, kind: pause, target: gateway}", "faults[0].at"),
        ("{name: edge, at: 5s, kind: restart, target: gateway}", "never fires"),
        ("{name: ghost, at: 1s, for: 1s, kind: pause, pid: DEAD}", "faults[0].pid"),
        ("{name: nofile, at: 1s, for: 1s, kind: pause, pidfile: /nonexistent/x.pid}", "pidfile"),
        ("{name: db, at: 1s, for: 1s, kind: pause, target: database}", "has no process"),
    ],
)
def test_a_fault_that_cannot_happen_is_refused(tmp_path, fault, expected):
    line = _one_line_error(_run(tmp_path, fault.replace("DEAD", str(_dead_pid()))))
    assert expected in line and "s.yaml" in line, line


def test_a_builtin_process_fault_needs_the_builtin_target(tmp_path):
    fault = "{name: gw, at: 1s, for: 1s, kind: pause, target: gateway}"
    line = _one_line_error(_run(tmp_path, fault, target="http://127.0.0.1:9"))
    assert "faults[0].target" in line and "not builtin" in line, line


def test_a_missing_container_is_refused_or_docker_is_named(tmp_path):
    fault = "{name: c, at: 1s, for: 1s, kind: pause, via: docker, container: no-such-lk-container}"
    line = _one_line_error(_run(tmp_path, fault, target="http://127.0.0.1:9"))
    assert "faults[0].container" in line, line
    assert "no container" in line or "no Docker engine" in line, line


def test_loadkit_proxy_refuses_a_non_loopback_host_without_the_opt_in():
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "proxy", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr
    assert "--allow-non-loopback" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_loadkit_target_leaves_no_temp_folder_after_a_clean_stop(tmp_path):
    import os
    import signal

    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadkit", "target"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("gateway: http://127.0.0.1:")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("loadkit-")]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("loadkit-")]


def test_loadkit_target_leaves_no_temp_folder_after_a_kill_9(tmp_path):
    import os
    import time

    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadkit", "target"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("gateway: http://127.0.0.1:")
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while [p for p in tmp_path.iterdir() if p.name.startswith("loadkit-")]:
        assert time.monotonic() < deadline, list(tmp_path.iterdir())
        time.sleep(0.1)
