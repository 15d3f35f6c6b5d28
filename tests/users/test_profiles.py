"""The users on services loadkit does not ship, configured only by YAML profiles.

Each dialect service (tests/users/services/) is its own small Starlette app;
real headless Locust runs aim the example locustfiles at it with
``--user-profile NAME``. A broken service must show as Locust failures.
"""

from __future__ import annotations

import subprocess

from dialect_services import DialectService
from locust_support import locust_cmd

JOB_FAST = ("--job-long-s", "2", "--job-poll-interval", "0.02", "--job-wait", "0")


def test_job_user_on_the_camel_gateway(camel, locust) -> None:
    endpoints = ("POST /execute", "GET /status/[id]", "JOB complete", "JOB timeout")
    result = locust.run(
        "workspace.py",
        camel.url,
        users=3,
        until=endpoints,
        args=("--user-profile", "camel-gateway", "--job-tasks", "echo:3,timeout:1", *JOB_FAST),
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()
    assert result.returncode == 0, result.explain()
    # tasks the dialect cannot express (no outputs, no interrupt) are left out
    assert not result.count("JOB bytes") and not result.count("JOB interrupt"), result.explain()
    # the service's own timestamps: queued 20 ms + 30 ms of work for a completed job
    server = result.stats.get("JOB complete server")
    assert server is not None and server.requests > 0 and server.min_ms >= 49, result.explain()
    for part, at_least_ms in (("queue", 19), ("run", 29)):  # created → started → completed
        stat = result.stats.get(f"JOB complete {part}")
        assert stat is not None and stat.requests == server.requests, (part, result.explain())
        assert at_least_ms <= stat.min_ms < server.min_ms, (part, result.explain())


def test_a_gateway_that_ignores_timeouts_fails_the_timeout_jobs(locust) -> None:
    with DialectService("camel_gateway", "--lie") as service:
        result = locust.run(
            "workspace.py",
            service.url,
            users=2,
            until=("JOB timeout",),
            args=("--user-profile", "camel-gateway", "--job-tasks", "timeout", *JOB_FAST),
        )
    assert result.failed("JOB timeout") == result.count("JOB timeout") > 0, result.explain()
    assert any("ended completed, expected timeout" in f["Error"] for f in result.failures)
    assert result.returncode != 0


def test_session_user_on_the_hermes_service(hermes, locust) -> None:
    endpoints = (
        "POST /hermes/api/sessions/activate",
        "GET /session/[id]/health",
        "SESSION ready cold",
    )
    result = locust.run(
        "sessions.py",
        hermes.url,
        users=2,
        until=endpoints,
        args=("--user-profile", "hermes-sessions", "--session-wait", "0.1"),
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()
    assert result.returncode == 0, result.explain()
    assert not result.count("SESSION ready warm")  # the dialect says nothing of warm starts
    # time to ready includes the service's 150 ms start
    assert result.stats["SESSION ready cold"].min_ms >= 150, result.explain()


def test_sessions_that_never_get_ready_are_failures(locust) -> None:
    with DialectService("hermes_sessions", "--never-ready") as service:
        result = locust.run(
            "sessions.py",
            service.url,
            users=1,
            until=("SESSION ready cold",),
            args=(
                "--user-profile",
                "hermes-sessions",
                "--session-ready-deadline",
                "1",
                "--session-burst-size",
                "2",
            ),
        )
    cold = "SESSION ready cold"
    assert result.failed(cold) == result.count(cold) > 0, result.explain()
    assert any("not ready after 1s" in f["Error"] for f in result.failures), result.explain()


def test_the_yaml_builtin_profile_passes_every_job_task_on_the_target(target, locust) -> None:
    endpoints = (
        "JOB echo",
        "JOB bytes",
        "JOB special",
        "JOB isolation",
        "JOB interrupt",
        "JOB timeout",
        "GET /status/[id]",
        "GET /responses/[id]",
    )
    result = locust.run(
        "workspace.py",
        target.url,
        users=6,
        until=endpoints,
        args=(
            "--user-profile",
            "builtin-yaml",
            "--job-tasks",
            "echo:1,bytes:1,special:1,isolation:1,interrupt:1,timeout:1",
            *JOB_FAST,
        ),
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()


def test_a_leak_through_the_yaml_profile_is_reported(target, locust) -> None:
    result = locust.run(
        "workspace.py",
        target.url,
        users=2,
        until=("JOB isolation",),
        args=(
            "--user-profile",
            "builtin-yaml",
            "--job-tasks",
            "isolation",
            "--job-workspaces",
            "1",
            "--job-workspace-prefix",
            "leak",
            "--job-stranger-workspace",
            "leak-shared-0",
            *JOB_FAST,
        ),
    )
    assert result.failed("JOB isolation") == result.count("JOB isolation") > 0, result.explain()
    assert any("isolation leak" in f["Error"] for f in result.failures), result.explain()


def test_a_bad_profile_stops_locust_before_it_starts(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "jobs:\n  submit: {path: /run, id: 'id['}\n  status: {path: '/s/{id}', state: s,"
        " states: {ok: completed, ko: failed}}\n"
    )
    proc = subprocess.run(
        locust_cmd("workspace.py", "--headless", "--user-profile", str(bad)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}:2: jobs.submit.id:" in proc.stderr and "Traceback" not in proc.stderr


SYNC_FAST = ("--sync-repos", "2", "--sync-writer-share", "0.5", "--sync-write-interval", "0.05",
             "--sync-ping-interval", "0.5")  # fmt: skip


def test_sync_user_on_the_task_sync_service(task_sync, locust) -> None:
    endpoints = (
        "POST /api/tasks",
        "PUT /api/tasks/[id]",
        "POST /api/sync/batch",
        "WS notify task.created",
        "WS notify task.updated",
        "SYNC conflict server_wins",
    )
    result = locust.run(
        "sync.py",
        task_sync.url,
        users=4,
        until=endpoints,
        args=("--user-profile", "task-sync", *SYNC_FAST),
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()
    assert result.returncode == 0, result.explain()


def test_a_sync_service_that_drops_updates_shows_missed_events(locust) -> None:
    with DialectService("task_sync", "--drop-updates") as service:
        result = locust.run(
            "sync.py",
            service.url,
            users=4,
            until=("WS notify order",),
            args=("--user-profile", "task-sync", *SYNC_FAST),
        )
    assert result.failed("WS notify order") > 0, result.explain()
    assert any("missed 1 update(s) of task" in f["Error"] for f in result.failures), (
        result.explain()
    )


def test_tasks_the_profile_cannot_express_are_one_failure_not_a_crash(camel, locust) -> None:
    result = locust.run(
        "workspace.py",
        camel.url,
        users=2,
        run_time="3s",
        args=("--user-profile", "camel-gateway", "--job-tasks", "bytes", *JOB_FAST),
    )
    assert result.failed("JOB setup") == 2, result.explain()
    assert any("offers none of the tasks bytes" in f["Error"] for f in result.failures)
    assert "Traceback" not in result.output, result.output[-3000:]


SIGNED_LOCUSTFILE = '''
import hashlib
from collections.abc import Mapping
from typing import Any

import loadkit.locust  # noqa: F401
from loadkit.users import JobUser
from loadkit.users.profile.calls import Call
from loadkit.users.profile.loader import load_profile
from loadkit.users.profile.yamlapi import YamlJobs


class SignedJobs(YamlJobs):
    """The camel-gateway profile, plus a header YAML cannot compute."""

    def extra_headers(self, call: Call, values: Mapping[str, Any]) -> Mapping[str, str]:
        return {"X-Token": hashlib.sha256(b"key").hexdigest()[:16]}


camel = load_profile("camel-gateway").jobs
assert isinstance(camel, YamlJobs)


class SignedJobUser(JobUser):
    job_api = SignedJobs(camel.calls, camel.commands)
'''


def test_a_python_subclass_adds_what_yaml_cannot_say(locust, tmp_path) -> None:
    import hashlib

    token = hashlib.sha256(b"key").hexdigest()[:16]
    locustfile = tmp_path / "signed.py"
    locustfile.write_text(SIGNED_LOCUSTFILE)
    with DialectService("camel_gateway", "--token", token) as service:
        result = locust.run(
            str(locustfile), service.url, users=2, until=("JOB complete",),
            args=("--job-tasks", "echo", *JOB_FAST),
        )  # fmt: skip
        unsigned = locust.run(
            "workspace.py", service.url, users=1, until=("POST /execute",),
            args=("--user-profile", "camel-gateway", "--job-tasks", "echo", *JOB_FAST),
        )  # fmt: skip
    assert result.count("JOB complete") > 0 and result.total_failures == 0, result.explain()
    # the same profile without the subclass is refused: the header really is what passes
    assert unsigned.failed("POST /execute") > 0, unsigned.explain()
    assert any("HTTP 401" in f["Error"] for f in unsigned.failures), unsigned.explain()
