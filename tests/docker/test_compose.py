"""The compose stack for real: target + proxy + Locust master + 1 worker in containers.

Needs a Docker engine and the ``loadkit`` image (``bash scripts/docker-setup.sh``);
skips with the reason otherwise. Every container uses host networking and
127.0.0.1 ports picked free for this test; the run directory must appear on
the host through the bind mount, and the host's reporter must read it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.exclusive]

SCENARIO = """\
name: compose-tiny
description: a few seconds of workspace jobs through the proxy, in containers
target: builtin
users: {WorkspaceUser: 1}
stages:
  - {name: steady, duration: 6s, users: 2, spawn_rate: 2}
checks:
  - count > 5
"""


def _compose_command() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("no docker client (bash scripts/docker-setup.sh installs one)")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        pytest.skip("no Docker engine running (bash scripts/docker-setup.sh starts one)")
    image = subprocess.run(
        ["docker", "image", "inspect", "loadkit"], capture_output=True, text=True, timeout=60
    )
    if image.returncode != 0:
        pytest.skip("no 'loadkit' image (bash scripts/docker-setup.sh builds it)")
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither 'docker compose' nor 'docker-compose' is installed")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_compose_stack_runs_headless_and_the_run_dir_appears_on_the_host(tmp_path) -> None:
    compose = _compose_command()
    scenarios, reports, data = tmp_path / "scenarios", tmp_path / "reports", tmp_path / "target"
    for folder in (scenarios, reports, data):
        folder.mkdir()
    (scenarios / "compose-tiny.yaml").write_text(textwrap.dedent(SCENARIO))
    gateway, agent, proxy, proxy_api, master = _free_ports(5)
    env = dict(
        os.environ,
        SCENARIO="compose-tiny", LOCUSTFILE="workspace.py", WORKERS="1",
        GATEWAY_PORT=str(gateway), AGENT_PORT=str(agent), PROXY_PORT=str(proxy),
        PROXY_API_PORT=str(proxy_api), MASTER_PORT=str(master),
        LOADKIT_REPORTS=str(reports), LOADKIT_SCENARIOS=str(scenarios),
        LOADKIT_TARGET_DATA=str(data),
    )  # fmt: skip
    base = [*compose, "-f", str(ROOT / "docker-compose.yml"), "-p", f"lk{uuid.uuid4().hex[:8]}"]
    try:
        up = subprocess.run(
            [*base, "up", "--scale", "worker=1", "--abort-on-container-exit",
             "--exit-code-from", "master"],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        subprocess.run([*base, "down", "--volumes", "--timeout", "5"], env=env,
                       capture_output=True, timeout=300)  # fmt: skip
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    run_dirs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, (run_dirs, up.stdout[-3000:])
    run_dir = run_dirs[0]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["name"] == "compose-tiny"
    assert run["runner"]["mode"] == "master"
    assert run["host"] == f"http://127.0.0.1:{proxy}"
    assert run["totals"]["requests"] > 0
    assert "Tag=" in (run_dir / "latency.hlog").read_text()
    report = subprocess.run(
        [sys.executable, "-m", "loadkit", "report", str(run_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert (run_dir / "report.html").is_file()
