"""Process faults on the real target's gateway, in real Locust runs and directly."""

from __future__ import annotations

import csv
import json

import httpx
import psutil
import pytest
from fault_helpers import kill_tree, locust_cmd, locust_env, pid_alive, process_state, write_plan

from loadkit.faults.backends.base import BackendContext
from loadkit.faults.backends.process import ProcessBackend
from loadkit.faults.model import parse_faults

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py


def stats_rows(path):
    with open(path) as fh:
        return {row["Name"]: row for row in csv.DictReader(fh)}


def test_pausing_the_gateway_times_out_requests_then_it_recovers(target, spawn, tmp_path):
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "gw-pause", "at": "2s", "for": "3s", "kind": "pause", "target": "gateway"},
        ],
    )
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        locust_cmd(
            target.url,
            plan,
            "--loadkit-target-info",
            str(target.data_dir / "target.json"),
            "--csv",
            str(tmp_path / "stats"),
            run_time="9s",
        ),
        stdout=log,
        stderr=log,
        env=locust_env(
            tmp_path / "run",
            tmp_path / "fault-index",
            LOADKIT_TEST_PATH="/health",
            LOADKIT_TEST_TIMEOUT="1",
        ),
    )
    proc.wait(timeout=120)  # exit code 1: the run had failures, as it should
    rows = stats_rows(tmp_path / "stats_stats.csv")
    during, after = rows["GET /health [gw-pause]"], rows["GET /health [after]"]
    assert int(during["Failure Count"]) > 0, during
    assert int(after["Request Count"]) > 0 and int(after["Failure Count"]) == 0, after
    assert process_state(target.gateway.pid) != psutil.STATUS_STOPPED
    assert httpx.get(f"{target.url}/health", timeout=30).status_code == 200


def test_killing_the_gateway_and_reverting_restarts_it_on_the_same_port(target):
    info = target.data_dir / "target.json"
    backend = ProcessBackend(BackendContext(target_info=str(info)))
    spec = parse_faults([{"name": "gw-kill", "at": 0, "kind": "kill", "target": "gateway"}])[0]
    old_pid = target.gateway.pid
    backend.inject(spec)
    assert not pid_alive(old_pid)
    backend.revert(spec)
    new_pid = json.loads(info.read_text())["gateway"]["pid"]
    try:
        assert new_pid != old_pid
        assert httpx.get(f"{target.url}/health", timeout=30).status_code == 200
    finally:
        kill_tree(new_pid)
