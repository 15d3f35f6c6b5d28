"""loadkit._proc against real processes: lifelines, ready lines, reaping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from loadkit._proc import PIPE, Child, alive, stop_pids

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_wait_for_line_returns_the_ready_line_and_none_on_exit():
    child = Child([sys.executable, "-c", "print('noise'); print('api: http://x', flush=True)"])
    child.stdout = PIPE
    child.start()
    assert child.wait_for_line("api: ", 30) == "http://x"
    assert child.wait(30) == 0
    quiet = Child([sys.executable, "-c", "print('no ready line')"], stdout=PIPE).start()
    assert quiet.wait_for_line("api: ", 30) is None
    assert quiet.last_line() == "no ready line"
    quiet.stop()


def test_stop_reaps_and_takes_the_childs_group_with_it():
    code = (
        "import subprocess, sys, time; p = subprocess.Popen(%r); "
        "print(p.pid, flush=True); time.sleep(600)"
    )
    child = Child([sys.executable, "-c", code % (SLEEP,)], stdout=PIPE).start()
    grandchild = int(child.wait_for_line("", 30) or 0)
    assert alive(grandchild)
    child.stop(grace_s=5)
    assert child.returncode is not None  # reaped: no zombie left
    assert wait_until(lambda: not alive(grandchild), 5)


def test_stop_wakes_a_paused_child_and_kill_is_immediate():
    paused = Child(SLEEP).start()
    paused.signal(signal.SIGSTOP)
    assert paused.stop(grace_s=10) == -signal.SIGTERM
    stubborn = Child(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ok', flush=True); time.sleep(600)",
        ],
        stdout=PIPE,
    ).start()
    assert stubborn.wait_for_line("ok", 30) == ""
    assert stubborn.stop(grace_s=0.5) == -signal.SIGKILL


def test_alive_counts_a_zombie_as_gone():
    # in a plain interpreter: gevent (imported by these tests via locust) reaps children itself
    code = textwrap.dedent("""
        import os, subprocess, sys, time
        from loadkit._proc import alive
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        while open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        print(alive(proc.pid), alive(os.getpid()), alive(0))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True", "False"], out.stderr


@pytest.mark.parametrize("lifeline", [True, False])
def test_a_kill_9_of_the_parent_takes_a_child_with_a_lifeline(tmp_path, lifeline):
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        from loadkit._proc import Child
        child = Child({SLEEP!r}, lifeline={lifeline}).start()
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    gone = wait_until(lambda: not alive(pid), 1.0)
    if lifeline:
        assert gone, "the child outlived its parent's kill -9 by more than a second"
    else:
        assert not gone  # without a lifeline it survives: the lifeline is what does it
        os.kill(pid, signal.SIGKILL)


def test_a_child_started_from_a_short_lived_thread_outlives_that_thread(tmp_path):
    # PR_SET_PDEATHSIG fires when the forking *thread* ends; the spawner thread prevents it.
    # (in a plain interpreter: these tests run with gevent's patched threading)
    code = textwrap.dedent(f"""
        import threading, time
        from loadkit._proc import Child, alive
        box = []
        t = threading.Thread(target=lambda: box.append(Child({SLEEP!r}).start()))
        t.start(); t.join()
        time.sleep(1.0)
        print(alive(box[0].pid))
        box[0].kill()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


IGNORES_TERM = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('ready', flush=True); time.sleep(600)",
]


def test_stop_pids_ends_a_paused_process_and_one_that_ignores_sigterm():
    """In a fresh interpreter: in this one gevent has patched ``os`` and ``subprocess``,
    and its child watcher would reap the processes whatever ``stop_pids`` did."""
    code = textwrap.dedent(f"""
        import os, signal, subprocess, time
        from loadkit._proc import stop_pids
        polite = subprocess.Popen({SLEEP!r})
        paused = subprocess.Popen({SLEEP!r})
        stubborn = subprocess.Popen({IGNORES_TERM!r}, stdout=subprocess.PIPE, text=True)
        procs = (polite, paused, stubborn)
        try:
            assert stubborn.stdout.readline() == "ready\\n"
            os.kill(paused.pid, signal.SIGSTOP)
            started = time.monotonic()
            left = stop_pids([p.pid for p in procs], grace_s=1.0)
            waited = time.monotonic() - started
            reaped = []
            for proc in procs:  # reaped: the exit status went to stop_pids
                try:
                    os.waitpid(proc.pid, os.WNOHANG)
                    reaped.append(False)
                except ChildProcessError:
                    reaped.append(True)
            print(left, waited >= 1.0, reaped)
        finally:
            for proc in procs:
                proc.kill()
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # the stubborn one got its grace period; none is left as a zombie
    assert out.stdout.strip() == "[] True [True, True, True]", out.stdout + out.stderr


def test_stop_pids_without_reaping_leaves_the_exit_status_to_the_owner():
    child = subprocess.Popen(SLEEP)
    assert stop_pids([child.pid], grace_s=5.0, reap=False) == []
    assert not alive(child.pid)
    assert child.wait(5) == -signal.SIGTERM  # still waitable: the owner reaps it


def test_finish_waits_for_the_end_and_the_output_and_spares_what_the_child_left_running():
    child = Child(
        ["/bin/sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!; echo done; exit 3"], stdout=PIPE
    ).start()
    assert child.finish(30) == 3
    daemon = int(child.lines[0])
    try:
        assert child.lines[1:] == ["done"]
        assert alive(daemon)  # a command may start a daemon: finish() does not signal it
    finally:
        os.kill(daemon, signal.SIGKILL)
    slow = Child(SLEEP, stdout=PIPE).start()
    assert slow.finish(0.2) is None and slow.running()
    slow.kill()
