"""The schedule in-process (gevent): failures, instant faults, the journal, and recover."""

from __future__ import annotations

import os
import subprocess
import sys

import gevent
import psutil
from fault_helpers import SLEEPER, pid_alive

from loadkit.faults.backends.base import BackendContext, BackendSet
from loadkit.faults.journal import FaultJournal, read_entries, recover
from loadkit.faults.model import parse_faults
from loadkit.faults.schedule import FaultSchedule


def run_until(predicate, timeout=30.0):
    with gevent.Timeout(timeout):
        while not predicate():
            gevent.sleep(0.02)


def make(items, recorder, index):
    specs = parse_faults(items, "test")
    context = BackendContext()
    journal = FaultJournal(recorder.run_dir, context, index)
    changes = []
    schedule = FaultSchedule(specs, BackendSet(context), recorder, journal, changes.append)
    return schedule, journal, changes


def test_a_failing_revert_stays_in_the_journal_for_recover(spawn, recorder, fault_index):
    proc = spawn(SLEEPER)
    schedule, journal, changes = make(
        [{"name": "down", "at": 0, "for": "200ms", "kind": "kill", "pid": proc.pid}],
        recorder,
        fault_index,
    )
    schedule.start()
    run_until(lambda: schedule.statuses["down"].state == "revert_failed")
    assert not pid_alive(proc.pid)
    (error,) = recorder.events("fault_error")
    assert error["action"] == "revert" and "no command known" in error["error"]
    (revert,) = recorder.events("fault_revert")
    assert revert["ok"] is False and revert["late_ms"] >= 0
    assert journal.active() == ["down"] and changes[-1] == ["down"]
    schedule.stop("stop")  # tries again, fails again: still journaled
    assert [e["name"] for e in read_entries(recorder.run_dir / "faults.journal")] == ["down"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadkit",
            "faults",
            "recover",
            "--index",
            str(fault_index),
            "--force",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3 and "FAILED   down (kill)" in out.stdout
    # without the index, a run dir alone is enough to find it (then give up on it by hand)
    for path in fault_index.glob("*.journal"):
        path.unlink()
    results = recover(fault_index, [recorder.run_dir], force=True)
    assert [(r.name, r.ok) for r in results] == [("down", False)]
    assert read_entries(recorder.run_dir / "faults.journal")  # kept: it may work later
    dropped = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadkit",
            "faults",
            "recover",
            "--index",
            str(fault_index),
            "--run-dir",
            str(recorder.run_dir),
            "--force",
            "--drop-failed",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dropped.returncode == 3 and "FAILED   down (kill)" in dropped.stdout
    assert (recorder.run_dir / "faults.journal").read_text() == ""


def test_failed_inject_is_reported_and_not_journaled(recorder, fault_index):
    schedule, journal, _ = make(
        [{"name": "ghost", "at": 0, "kind": "pause", "pid": 999_999_999}], recorder, fault_index
    )
    schedule.start()
    run_until(lambda: schedule.statuses["ghost"].state == "failed")
    (error,) = recorder.events("fault_error")
    assert error["action"] == "inject" and "is not running" in error["error"]
    assert journal.active() == [] and not list(fault_index.glob("*.journal"))


def test_restart_is_instant_and_never_journaled(spawn, recorder, fault_index):
    proc = spawn(SLEEPER)
    schedule, journal, _ = make(
        [
            {
                "name": "bounce",
                "at": 0,
                "for": "10m",
                "kind": "restart",
                "pid": proc.pid,
                "command": SLEEPER,
            }
        ],
        recorder,
        fault_index,
    )
    try:
        schedule.start()
        run_until(lambda: schedule.statuses["bounce"].state == "done")
        assert not pid_alive(proc.pid)
        (revert,) = recorder.events("fault_revert")
        assert revert["reason"] == "scheduled" and revert["ok"] is True
        assert journal.active() == [] and schedule.active() == []
    finally:
        schedule.stop()
        for child in psutil.Process(os.getpid()).children():
            if child.cmdline()[1:] == SLEEPER[1:]:
                child.kill()
                child.wait(10)


def test_manual_inject_before_the_test_starts_and_stop_reverts_it(spawn, recorder, fault_index):
    proc = spawn(SLEEPER)
    schedule, journal, _ = make(
        [{"name": "hold", "at": "10m", "kind": "pause", "pid": proc.pid}], recorder, fault_index
    )
    status = schedule.inject("hold")
    assert status.state == "active" and journal.active() == ["hold"]
    (inject,) = recorder.events("fault_inject")
    assert inject["trigger"] == "manual" and inject["late_ms"] is None  # nothing was planned
    schedule.stop("signal")
    (revert,) = recorder.events("fault_revert")
    assert revert["reason"] == "signal" and revert["ok"] is True
    assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED
    assert (recorder.run_dir / "faults.journal").read_text() == ""
