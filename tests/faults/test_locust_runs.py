"""Real Locust runs with faults: on time, reverted at the end, on SIGTERM, after kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import psutil
import pytest
from fault_helpers import (
    LOCUST,
    LOCUSTFILE,
    SLEEPER,
    free_port,
    http_server_cmd,
    locust_cmd,
    locust_env,
    process_state,
    read_events,
    wait_until,
    write_plan,
)

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py


def start_locust(spawn, tmp_path, host, plan, *extra, run_time="6s", index=None):
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    run_dir = tmp_path / "run"
    index = index or tmp_path / "fault-index"
    proc = spawn(
        locust_cmd(host, plan, *extra, run_time=run_time),
        stdout=log,
        stderr=log,
        env=locust_env(run_dir, index),
    )
    return proc, run_dir, index


def log_text(tmp_path):
    return (tmp_path / "locust.log").read_text(errors="replace")


def http_host(spawn):
    port = free_port()
    spawn(http_server_cmd(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    def up():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, what="http server")
    return f"http://127.0.0.1:{port}"


def test_faults_inject_and_revert_on_time_and_at_the_end(spawn, tmp_path):
    host = http_host(spawn)
    a, b = spawn(SLEEPER), spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "short", "at": "500ms", "for": "1s", "kind": "pause", "pid": a.pid},
            {"name": "long", "at": "1s", "kind": "pause", "pid": b.pid},  # until the end
        ],
    )
    proc, run_dir, index = start_locust(spawn, tmp_path, host, plan, run_time="4s")
    assert proc.wait(timeout=120) == 0, log_text(tmp_path)
    injects = {e["name"]: e for e in read_events(run_dir, "fault_inject")}
    reverts = {e["name"]: e for e in read_events(run_dir, "fault_revert")}
    assert set(injects) == set(reverts) == {"short", "long"}, log_text(tmp_path)
    assert injects["short"]["planned_at_s"] == 0.5 and injects["long"]["planned_at_s"] == 1.0
    assert injects["short"]["kind"] == "pause" and injects["short"]["target"] == f"pid {a.pid}"
    assert all(e["late_ms"] >= 0 for e in injects.values())
    assert reverts["short"]["reason"] == "scheduled" and reverts["long"]["reason"] == "stop"
    assert all(e["ok"] and e["error"] is None for e in reverts.values())
    assert injects["short"]["t"] < reverts["short"]["t"] < reverts["long"]["t"]
    for pid in (a.pid, b.pid):
        assert process_state(pid) != psutil.STATUS_STOPPED
    assert (run_dir / "faults.journal").read_text() == ""
    assert not list(index.glob("*.journal"))


def test_workers_are_told_which_faults_are_active(spawn, tmp_path):
    host = http_host(spawn)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "mid", "at": "1500ms", "for": "1500ms", "kind": "pause", "pid": sleeper.pid},
        ],
    )
    csv = tmp_path / "stats"
    proc, _, _ = start_locust(spawn, tmp_path, host, plan, "--csv", str(csv), run_time="5s")
    assert proc.wait(timeout=120) == 0, log_text(tmp_path)
    names = (tmp_path / "stats_stats.csv").read_text()
    assert "GET / [none]" in names and "GET / [mid]" in names


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_mid_fault_reverts_with_reason_signal(spawn, tmp_path, signum):
    host = http_host(spawn)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "hold", "at": "0s", "for": "10m", "kind": "pause", "pid": sleeper.pid},
        ],
    )
    proc, run_dir, index = start_locust(spawn, tmp_path, host, plan, run_time="10m")
    wait_until(
        lambda: process_state(sleeper.pid) == psutil.STATUS_STOPPED,
        timeout=90,
        what="fault injected",
    )
    proc.send_signal(signum)
    proc.wait(timeout=90)
    assert process_state(sleeper.pid) != psutil.STATUS_STOPPED, log_text(tmp_path)
    (revert,) = read_events(run_dir, "fault_revert")
    assert revert["reason"] == "signal" and revert["ok"] is True
    assert (run_dir / "faults.journal").read_text() == ""
    assert not list(index.glob("*.journal"))


def test_kill_9_mid_fault_resumes_the_process_without_anyones_help(spawn, tmp_path):
    """The journal's janitor reverts a killed run's pause; recover then has nothing left."""
    host = http_host(spawn)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "hold", "at": "0s", "for": "10m", "kind": "pause", "pid": sleeper.pid},
        ],
    )
    proc, run_dir, index = start_locust(spawn, tmp_path, host, plan, run_time="10m")
    wait_until(
        lambda: process_state(sleeper.pid) == psutil.STATUS_STOPPED,
        timeout=90,
        what="fault injected",
    )
    wait_until(lambda: list(index.glob("*.journal")), what="journal written")
    events_before = (run_dir / "events.jsonl").read_bytes()
    proc.kill()
    proc.wait(timeout=30)
    wait_until(
        lambda: process_state(sleeper.pid) != psutil.STATUS_STOPPED,
        timeout=5,
        what="resumed by the janitor, with no manual step",
    )
    wait_until(lambda: not list(index.glob("*.journal")), timeout=5, what="journal cleared")
    # the killed run's events are never written to afterwards (it would stretch the run)
    assert (run_dir / "events.jsonl").read_bytes() == events_before
    again = subprocess.run(
        [sys.executable, "-m", "loadkit", "faults", "recover", "--index", str(index)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0 and "no active faults" in again.stdout


def test_next_run_recovers_what_a_killed_run_left(spawn, tmp_path):
    """A journal left without its janitor (e.g. the machine rebooted) is reverted at start."""
    from loadkit.faults.backends.base import BackendContext
    from loadkit.faults.journal import FaultJournal
    from loadkit.faults.model import parse_faults

    host = http_host(spawn)
    sleeper = spawn(SLEEPER)
    index = tmp_path / "fault-index"
    (spec,) = parse_faults(
        [{"name": "hold", "at": "0s", "kind": "pause", "pid": sleeper.pid}], source="t"
    )
    journal = FaultJournal(None, BackendContext(), index)  # no janitor
    journal.add(spec)
    entries = [json.loads(line) for line in journal.index_path.read_text().splitlines()]
    dead = spawn([sys.executable, "-c", "pass"])
    dead.wait()
    for entry in entries:
        entry["owner_pid"] = dead.pid  # as if a run that is gone had written it
    journal.index_path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    psutil.Process(sleeper.pid).suspend()
    other = write_plan(
        tmp_path / "other.yaml",
        [
            {"name": "later", "at": "10m", "kind": "pause", "pid": sleeper.pid},
        ],
    )
    (tmp_path / "second").mkdir()
    second, _, _ = start_locust(
        spawn, tmp_path / "second", host, other, run_time="10m", index=index
    )
    wait_until(
        lambda: process_state(sleeper.pid) != psutil.STATUS_STOPPED,
        timeout=90,
        what="resumed by the next run",
    )
    wait_until(lambda: not list(index.glob("*.journal")), what="journal cleared")
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)


def test_a_bad_plan_stops_locust_with_one_line(spawn, tmp_path):
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "gw-pause", "at": "60s", "for": "5 sec", "kind": "pause", "target": "gateway"},
        ],
    )
    proc, _, _ = start_locust(spawn, tmp_path, "http://127.0.0.1:9", plan)
    assert proc.wait(timeout=90) == 2
    text = log_text(tmp_path)
    assert "faults[0] (gw-pause).for: '5 sec' is not a duration" in text
    assert "Traceback" not in text


def test_distributed_workers_get_the_active_faults_from_the_master(spawn, tmp_path):
    host = http_host(spawn)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "mid", "at": "2s", "for": "2s", "kind": "pause", "pid": sleeper.pid},
        ],
    )
    port = free_port()
    env = locust_env(tmp_path / "run", tmp_path / "fault-index")
    master_log = open(tmp_path / "master.log", "wb")  # noqa: SIM115
    master = spawn(
        locust_cmd(
            host,
            plan,
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "1",
            "--csv",
            str(tmp_path / "stats"),
            run_time="6s",
        ),
        stdout=master_log,
        stderr=master_log,
        env=env,
    )
    worker_log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    spawn(
        [
            LOCUST,
            "-f",
            str(LOCUSTFILE),
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
        ],
        stdout=worker_log,
        stderr=worker_log,
        env=env,
    )
    assert master.wait(timeout=180) == 0, (tmp_path / "master.log").read_text()
    names = (tmp_path / "stats_stats.csv").read_text()
    assert "GET / [mid]" in names and "GET / [after]" in names, names
    assert [e["name"] for e in read_events(tmp_path / "run", "fault_inject")] == ["mid"]


def test_blocking_start_up_work_does_not_cut_the_run_short(spawn, tmp_path):
    # gevent's cached loop time goes stale during blocking init work; without a
    # refresh Locust's --run-time timer fires that much early and this run would
    # end before its fault is due.
    host = http_host(spawn)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "late", "at": "2500ms", "for": "200ms", "kind": "pause", "pid": sleeper.pid},
        ],
    )
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        locust_cmd(host, plan, run_time="3s"),
        stdout=log,
        stderr=log,
        env=locust_env(tmp_path / "run", tmp_path / "fault-index", LOADKIT_TEST_BLOCK_INIT="3"),
    )
    assert proc.wait(timeout=120) == 0, log_text(tmp_path)
    assert [e["name"] for e in read_events(tmp_path / "run", "fault_inject")] == ["late"]
