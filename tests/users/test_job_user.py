"""JobUser (through the example WorkspaceUser) in real headless Locust runs against the target."""

from __future__ import annotations

import re
import signal
import subprocess

from locust_support import clear_faults, free_port, locust_cmd, set_fault, stop, wait_for

ALL_TASKS = "echo:1,bytes:1,special:1,isolation:1,interrupt:1,timeout:1"
FAST = ("--job-long-s", "5", "--job-poll-interval", "0.05", "--job-wait", "0")
OLD_FAST = ("--ws-long-job-s", "5", "--ws-poll-interval", "0.05", "--ws-wait", "0")


def test_every_kind_of_job_runs_and_passes_on_a_healthy_target(target, locust) -> None:
    endpoints = (
        "POST /execute",
        "GET /status/[id]",
        "GET /responses/[id]",
        "POST /interrupt/[id]",
        "JOB echo",
        "JOB bytes",
        "JOB special",
        "JOB isolation",
        "JOB interrupt",
        "JOB timeout",
    )
    result = locust.run(
        "workspace.py", target.url, users=6, until=endpoints, args=("--job-tasks", ALL_TASKS, *FAST)
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()
    assert result.returncode == 0, result.explain()


def test_large_outputs_of_10_mib_are_verified(target, locust) -> None:
    result = locust.run(
        "workspace.py",
        target.url,
        users=1,
        until=("JOB bytes",),
        args=("--job-tasks", "bytes", "--job-large-output-share", "1", *FAST),
    )
    assert result.count("JOB bytes") > 0 and result.total_failures == 0, result.explain()
    # base64 of 10 MiB inside a JSON body
    assert result.stats["GET /responses/[id]"].avg_size > 10 * 1024 * 1024 * 4 / 3


def test_app_level_errors_show_as_failures(target, locust) -> None:
    set_fault(target.url, path="/execute", error_rate=1.0, status=503)
    try:
        result = locust.run(
            "workspace.py",
            target.url,
            users=2,
            until=("JOB echo",),
            args=("--job-tasks", "echo", *FAST),
        )
    finally:
        clear_faults(target.url)
    assert result.failed("POST /execute") > 0, result.explain()
    assert result.failed("JOB echo") == result.count("JOB echo") > 0, result.explain()
    assert any("HTTP 503" in f["Error"] for f in result.failures), result.explain()
    assert result.returncode != 0


def test_added_latency_shows_in_the_job_times(target, locust) -> None:
    set_fault(target.url, path="/status", latency_ms=300)
    try:
        result = locust.run(
            "workspace.py",
            target.url,
            users=2,
            until=("JOB echo",),
            args=("--job-tasks", "echo", *FAST),
        )
    finally:
        clear_faults(target.url)
    assert result.count("JOB echo") > 0 and result.total_failures == 0, result.explain()
    # every job polls /status at least once, so it cannot be faster than the added latency
    assert result.stats["JOB echo"].min_ms >= 300, result.explain()


def test_a_job_that_never_finishes_fails_at_the_deadline_not_a_hang(target, locust) -> None:
    target.agent.signal(signal.SIGSTOP)  # jobs stay queued: nobody claims them
    try:
        result = locust.run(
            "workspace.py",
            target.url,
            users=2,
            until=("JOB echo",),
            args=("--job-tasks", "echo", "--job-deadline", "1", *FAST),
        )
    finally:
        target.agent.signal(signal.SIGCONT)
    assert result.failed("JOB echo") == result.count("JOB echo") > 0, result.explain()
    # Queued, or "processing" when the stopped agent's long-poll claim took it just before
    # SIGSTOP: either way the job fails at its deadline instead of hanging the user.
    stuck = re.compile(r"still (queued|processing) after 1s")
    assert any(stuck.search(f["Error"]) for f in result.failures), result.explain()


def test_an_isolation_leak_is_reported(target, locust) -> None:
    """All users share one workspace and the probe reads it as the 'stranger': a leak.

    Written with the old ``--ws-*`` names: they still work, with a one-line notice.
    """
    result = locust.run(
        "workspace.py",
        target.url,
        users=2,
        until=("JOB isolation",),
        args=(
            "--ws-tasks",
            "isolation",
            "--ws-workspaces",
            "1",
            "--ws-workspace-prefix",
            "leak",
            "--ws-stranger-workspace",
            "leak-shared-0",
            *OLD_FAST,
        ),
    )
    assert result.failed("JOB isolation") == result.count("JOB isolation") > 0, result.explain()
    assert any("isolation leak" in f["Error"] for f in result.failures), result.explain()
    assert "loadkit: --ws-tasks is deprecated; use --job-tasks" in result.output


def test_bad_parameter_is_one_line_and_exit_2(tmp_path) -> None:
    proc = subprocess.run(
        locust_cmd("workspace.py", "--headless", "--ws-tasks", "echo:2,nosuch"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--ws-tasks" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_parameter_under_its_new_name_is_one_line_and_exit_2(tmp_path) -> None:
    proc = subprocess.run(
        locust_cmd("workspace.py", "--headless", "--job-tasks", "echo:2,nosuch"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--job-tasks" in proc.stderr and "Traceback" not in proc.stderr


def test_distributed_run_with_two_workers_gets_master_parameters(target, locust, tmp_path):
    port = free_port()
    prefix = tmp_path / "dist"
    master = locust.start(
        "workspace.py",
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        "2",
        "--headless",
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "6s",
        "--host",
        target.url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--ws-tasks",
        "special",
        *FAST,
    )
    workers = [
        locust.start(
            "workspace.py", "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)
        )
        for _ in range(2)
    ]
    try:
        master.wait(timeout=180)
        wait_for(lambda: all(w.poll() is not None for w in workers), 60, "workers to quit")
    finally:
        for proc in (master, *workers):
            stop(proc)
    from locust_support import read_failures, read_stats

    stats = read_stats(prefix)
    log = (tmp_path / "locust-0.log").read_text()
    assert stats.get("JOB special") and stats["JOB special"].requests > 0, (stats, log[-2000:])
    # --ws-tasks reached the workers from the master: no other job kinds ran
    assert not any(k.startswith("JOB ") and not k.startswith("JOB special") for k in stats), stats
    # and the target's own timestamps gave the job's server, queue and run times
    assert {f"JOB special {part}" for part in ("server", "queue", "run")} <= set(stats), stats
    assert sum(s.failures for s in stats.values()) == 0, read_failures(prefix)
    assert master.returncode == 0, log[-2000:]
