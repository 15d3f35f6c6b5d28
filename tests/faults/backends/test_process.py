"""The process backend against real processes: pause/resume, kill, terminate, restart."""

from __future__ import annotations

import json

import psutil
import pytest
from fault_helpers import (
    SLEEPER,
    free_port,
    http_server_cmd,
    kill_tree,
    pid_alive,
    process_state,
    wait_until,
)

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext
from loadkit.faults.backends.process import ProcessBackend
from loadkit.faults.model import parse_faults


def one(**item):
    return parse_faults([{"name": "f", "at": 0, **item}], "test")[0]


def write_target_info(path, name, pid, cmd, url=None):
    path.write_text(
        json.dumps({name: {"pid": pid, "cmd": cmd, "url": url}, "data_dir": str(path.parent)})
    )


def test_pause_stops_and_revert_resumes_a_real_process(spawn):
    proc = spawn(SLEEPER)
    backend = ProcessBackend(BackendContext())
    spec = one(kind="pause", pid=proc.pid)
    backend.inject(spec)
    wait_until(lambda: process_state(proc.pid) == psutil.STATUS_STOPPED, what="stopped")
    backend.revert(spec)
    wait_until(lambda: process_state(proc.pid) != psutil.STATUS_STOPPED, what="resumed")
    assert "SIGSTOP" in backend.describe(spec)


def test_pidfile_target_and_missing_process(spawn, tmp_path):
    proc = spawn(SLEEPER)
    pidfile = tmp_path / "app.pid"
    pidfile.write_text(f"{proc.pid}\n")
    backend = ProcessBackend(BackendContext())
    spec = one(kind="pause", pidfile=str(pidfile))
    backend.inject(spec)
    wait_until(lambda: process_state(proc.pid) == psutil.STATUS_STOPPED, what="stopped")
    backend.revert(spec)
    wait_until(lambda: process_state(proc.pid) != psutil.STATUS_STOPPED, what="resumed")
    kill_tree(proc)
    with pytest.raises(FaultError, match="is not running"):
        backend.inject(spec)
    with pytest.raises(FaultError, match="cannot read pidfile"):
        backend.inject(one(kind="pause", pidfile=str(tmp_path / "nope.pid")))


def test_kill_then_revert_restarts_from_target_info(spawn, tmp_path):
    port = free_port()
    cmd = http_server_cmd(port)
    proc = spawn(cmd)
    info = tmp_path / "target.json"
    write_target_info(info, "gateway", proc.pid, cmd, f"http://127.0.0.1:{port}")
    backend = ProcessBackend(BackendContext(target_info=str(info)))
    spec = one(kind="kill", target="gateway")
    backend.inject(spec)
    assert not pid_alive(proc.pid)  # the backend waited for it (and reaped it: our child)
    backend.revert(spec)  # starts it again and waits until it listens
    new_pid = json.loads(info.read_text())["gateway"]["pid"]
    try:
        assert new_pid != proc.pid and pid_alive(new_pid)
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        backend.revert(spec)  # already back: nothing to do, no second process
        assert json.loads(info.read_text())["gateway"]["pid"] == new_pid
    finally:
        kill_tree(new_pid)


def test_terminate_and_restart(spawn, tmp_path):
    port = free_port()
    cmd = http_server_cmd(port)
    proc = spawn(cmd)
    info = tmp_path / "target.json"
    write_target_info(info, "agent", proc.pid, cmd, f"http://127.0.0.1:{port}")
    backend = ProcessBackend(BackendContext(target_info=str(info)))
    backend.inject(one(kind="restart", target="agent"))
    proc.wait(timeout=30)
    restarted = json.loads(info.read_text())["agent"]["pid"]
    try:
        assert restarted != proc.pid and pid_alive(restarted)
        spec = one(kind="terminate", target="agent")
        backend.inject(spec)
        wait_until(lambda: not pid_alive(restarted), what="terminated")
        backend.revert(spec)
        again = json.loads(info.read_text())["agent"]["pid"]
        assert pid_alive(again) and again != restarted
        kill_tree(again)
    finally:
        kill_tree(restarted)


def test_kill_without_a_command_stays_down(spawn):
    proc = spawn(SLEEPER)
    backend = ProcessBackend(BackendContext())
    spec = one(kind="kill", pid=proc.pid)
    backend.inject(spec)
    proc.wait(timeout=30)
    with pytest.raises(FaultError, match="no command known"):
        backend.revert(spec)


def test_target_without_target_info_is_a_clear_error():
    with pytest.raises(FaultError, match="--loadkit-target-info"):
        ProcessBackend(BackendContext()).inject(one(kind="pause", target="gateway"))
