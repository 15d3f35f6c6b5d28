"""The users of the shipped test-plan scenarios (``scenarios/*.yaml``, README "Shipped scenarios").

The three behaviours of :mod:`loadkit.users` (``WorkspaceUser``,
``SessionBurstUser``, ``SyncClientUser``, re-exported here) carry most of each
plan. The users below (the session ones live in ``plan_sessions.py``) check what
they cannot, on the built-in target's API
(``docs/target-api.md``); each check is one request event, failed with a
one-line message when the service breaks the expectation:

- ``CleanupUser`` — ``CLEANUP ttl``: in its own workspace, a response older than
  the TTL is deleted by ``POST /cleanup/run``, a younger one is kept (ages on the
  service's clock); ``CLEANUP kept``: a younger one was kept.
- ``LongJobUser`` — ``JOB timeout`` only, back to back (each job sleeps until
  ``--job-timeout-ms`` ends it on the agent): a few of them keep jobs running on
  the agent at every moment, so a gateway outage or an agent kill always finds
  work in flight, whenever it comes.
- ``EchoRateUser`` — ``JOB echo`` started at a fixed rate (``ECHO_JOBS_PER_S``,
  the open model): the rate and job time it sees are the service's, not those of
  a load generator slowed down by a busy machine.
- ``SustainedSessionUser`` — ``SessionUser`` in sustained mode
  (``--session-rate`` activations per second) beside bursting users.
- ``ExpiryUser`` — ``SessionUser``'s idle/expiry probe alone (``SESSION expiry``,
  failing after ``EXPIRY_LIMIT_S``), whatever ``--session-expiry-deadline`` says.
- ``PreviewUser`` — ``PREVIEW isolated``: three concurrent sessions of three
  users get three distinct containers; it keeps them alive (activity) for
  ``PREVIEW_HOLD_S`` seconds, so a restart mid-run finds live sessions (the audit
  then says whether they survived).
- ``ThrottledBurstUser`` — ``PREVIEW burst``: ``THROTTLED_BURST`` activations
  at once from one client against an activation rate limit; each 429 (one
  ``SESSION throttled`` event) waits its ``Retry-After`` and tries again, until
  every session is ready (failing after ``WAIT_LIMIT_S``); then it closes them
  all. ``PREVIEW orphans``: the client's listing (``GET /sessions?client_id=``)
  then shows none of its sessions still open.
- ``SessionQueueUser`` — ``QUEUE container`` (same user+project share a
  container, another project or user does not), ``QUEUE order`` (messages of
  one session ran in the order they were sent: ``run_index == seq``, each
  started after the previous one ended), ``QUEUE interrupt`` (long commands
  interrupted one after another keep their partial output).
- ``TaskBulkUser`` — once per user: ``SYNC 1000 creates`` (by 10 clients at
  once), ``SYNC batch 1000`` (one batch sync of 1000 changes), in a repo nobody
  subscribes to; then again and again ``SYNC big task`` (a 10 KB task) and
  ``SYNC retried write``: creates retried until one try succeeds (``SYNC write
  retried`` when it took more than one).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import gevent
import gevent.pool
from locust import FastHttpUser, constant, task
from plan_sessions import (
    ExpiryUser,
    PreviewUser,
    SessionQueueUser,
    SustainedSessionUser,
    ThrottledBurstUser,
    wait_until,
)
from sessions import SessionBurstUser
from sync import SyncClientUser
from workspace import WorkspaceUser

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.load.arrival import ArrivalRate
from loadkit.users import JobUser
from loadkit.users.events import PROCESS_TOKEN, CheckFailed, checked, fire, next_user_number
from loadkit.users.http import call_json

__all__ = [
    "CleanupUser",
    "EchoRateUser",
    "ExpiryUser",
    "LongJobUser",
    "PreviewUser",
    "SessionBurstUser",
    "SessionQueueUser",
    "SustainedSessionUser",
    "SyncClientUser",
    "TaskBulkUser",
    "ThrottledBurstUser",
    "WorkspaceUser",
]

CLEANUP_TTL_S = 4.0
ECHO_JOBS_PER_S = 2.0
BULK_COUNT = 1000
BULK_CLIENTS = 10
BIG_TASK_BYTES = 10 * 1024
RETRY_FOR_S = 40.0


class CleanupUser(FastHttpUser):
    """Checks that cleanup deletes only the responses older than its TTL.

    A job's age is the service's: ``completed_at`` of ``/status`` against the horizon
    ``/cleanup/run`` answers with (``completed_before``), both on the gateway's clock.
    The client cannot know when the cleanup really ran: a gateway paused between the
    young job's completion and the cleanup run ages that response past the TTL, and the
    cleanup is then right to delete it. ``CLEANUP kept`` counts the rounds where a
    response younger than the TTL was there to be kept (and was).
    """

    wait_time = constant(1.0)

    def on_start(self) -> None:
        self.workspace = f"lk-cleanup-{PROCESS_TOKEN}-{next_user_number('cleanup')}"

    def _job(self, text: str) -> str:
        body = {"workspace": self.workspace, "command": f"echo {text}"}
        job = call_json(self.client, "POST", "/execute", name="/execute", expect=202, body=body)
        request_id = str(job["request_id"])

        def done() -> bool:
            return self._status(request_id)["state"] in ("completed", "failed", "timeout",
                                                         "interrupted")  # fmt: skip

        wait_until(f"job {request_id}", done)
        return request_id

    def _status(self, request_id: str) -> dict[str, Any]:
        return call_json(self.client, "GET", f"/status/{request_id}", name="/status/[id]")

    def _kept(self, request_id: str, text: str) -> bool:
        """Is the response of ``request_id`` still there (with ``text``)?"""
        with self.client.get(f"/responses/{request_id}", name="/responses/[id]",
                             catch_response=True) as resp:  # fmt: skip
            if resp.status_code == 404 and "cleanup" in resp.text:
                resp.success()  # deleted by cleanup: what the check asks about
                return False
            if resp.status_code != 200 or resp.json().get("output") != text:
                message = f"response of {request_id}: HTTP {resp.status_code}: {resp.text[:120]}"
                resp.failure(message)
                raise CheckFailed(message)
            resp.success()
            return True

    @task
    def cleanup_ttl(self) -> None:
        hook = self.environment.events.request
        with checked(hook, "CLEANUP", "ttl"):
            old = self._job("old")
            aged = time.monotonic() + CLEANUP_TTL_S + 0.5
            while time.monotonic() < aged:  # a look now and then: no idle keep-alive to lose
                self._status(old)
                time.sleep(0.5)
            young = self._job("young")
            # its own workspace only: the others' jobs are read back later than the TTL
            # when the gateway stalls, and their checks are not about cleanup
            body = {"ttl_s": CLEANUP_TTL_S, "workspace": self.workspace}
            answer = call_json(self.client, "POST", "/cleanup/run", name="/cleanup/run", body=body)
            horizon = float(answer["completed_before"])
            for request_id, text in ((old, "old"), (young, "young")):
                completed_at = float(self._status(request_id)["completed_at"])
                older = completed_at < horizon
                if self._kept(request_id, text) == older:
                    age = "older" if older else "younger"
                    did = "kept" if older else "deleted"
                    raise CheckFailed(f"response of {request_id}, {age} than the TTL, {did}"
                                      f" (completed {horizon - completed_at:+.2f}s before"
                                      " the horizon)")  # fmt: skip
                if not older:
                    fire(hook, "CLEANUP", "kept", time.perf_counter())


class LongJobUser(JobUser):
    """A JobUser that runs only ``timeout`` jobs (whatever ``--job-tasks`` says)."""

    def option(self, name: str, default: Any) -> Any:
        return "timeout:1" if name == "tasks" else super().option(name, default)


class EchoRateUser(JobUser):
    """``JOB echo`` started ``ECHO_JOBS_PER_S`` times a second, each checked like
    WorkspaceUser's, however long the ones before take (``ITER echo job`` per start)."""

    concurrency = 64  # jobs side by side on one client

    def on_start(self) -> None:
        super().on_start()
        self.tasks = [EchoRateUser.echo_at_rate]

    def echo_at_rate(self) -> None:
        plan = ArrivalRate(rate_per_s=ECHO_JOBS_PER_S, max_in_flight=64, name="echo job",
                           graceful_stop_s=10.0)  # fmt: skip
        plan.run(self.task_echo, self.environment.events.request)


class TaskBulkUser(FastHttpUser):
    """Bulk writes once (1000 creates, a batch of 1000), then big tasks and retried writes."""

    wait_time = constant(1.0)
    concurrency = BULK_CLIENTS
    network_timeout = 30.0  # a 10 KB answer through a 1 KB/s link takes about 10 s
    connection_timeout = 5.0

    def on_start(self) -> None:
        self.repo = f"lk-bulk-{PROCESS_TOKEN}-{next_user_number('bulk')}"
        self.bulk_done = False

    def create_many(self, first: int, count: int) -> str | None:
        """Create tasks ``first``… one after another; the first problem, or None."""
        body = {"title": "", "client_id": f"lk-bulk-{PROCESS_TOKEN}"}
        try:
            for index in range(first, first + count):
                call_json(self.client, "POST", f"/repos/{self.repo}/tasks",
                          name="/repos/[repo]/tasks [bulk]", expect=201,
                          body={**body, "title": f"bulk {index}"})  # fmt: skip
        except CheckFailed as exc:
            return str(exc)
        return None

    @task
    def bulk(self) -> None:
        hook = self.environment.events.request
        if not self.bulk_done:
            self.bulk_done = True
            with checked(hook, "SYNC", "1000 creates"):  # by BULK_CLIENTS clients at once
                share = BULK_COUNT // BULK_CLIENTS
                group = gevent.pool.Group()
                clients = range(BULK_CLIENTS)
                jobs = [group.spawn(self.create_many, i * share, share) for i in clients]
                gevent.joinall(jobs)
                problems = [job.value for job in jobs if job.value is not None]
                if problems:
                    raise CheckFailed(f"{len(problems)} of {BULK_CLIENTS} clients: {problems[0]}")
            with checked(hook, "SYNC", "batch 1000"):
                changes = [{"title": f"batch {i}"} for i in range(BULK_COUNT)]
                done = call_json(self.client, "POST", f"/repos/{self.repo}/sync",
                                 name="/repos/[repo]/sync [bulk]",
                                 body={"client_id": "lk-bulk", "changes": changes})  # fmt: skip
                if len(done.get("applied") or []) != BULK_COUNT:
                    raise CheckFailed(f"batch of {BULK_COUNT}: {len(done.get('applied') or [])}")
            return
        self.retried_write("big task", {"title": "big", "meta": {"blob": "x" * BIG_TASK_BYTES}})
        self.retried_write("retried write", {"title": f"retried {uuid.uuid4().hex}"})

    def retried_write(self, name: str, body: dict[str, Any]) -> None:
        """``SYNC <name>``: a create retried until one try succeeds (a dropped or timed-out
        try is expected under a fault), failed after ``RETRY_FOR_S`` seconds of tries;
        ``SYNC write retried`` when it took more than one try."""
        hook = self.environment.events.request
        with checked(hook, "SYNC", name):
            deadline = time.monotonic() + RETRY_FOR_S
            path, tries = f"/repos/{self.repo}/tasks", 0
            while time.monotonic() < deadline:
                tries += 1
                with self.client.post(path, name="/repos/[repo]/tasks [try]", json=body,
                                      catch_response=True) as resp:  # fmt: skip
                    resp.success()  # a try is not the check: the write in the end is
                    if 400 <= resp.status_code < 500:  # refused: retrying cannot help
                        raise CheckFailed(f"{name}: HTTP {resp.status_code}: {resp.text[:120]}")
                    if resp.status_code == 201:
                        task = resp.json()
                        if any(task.get(key) != value for key, value in body.items()):
                            raise CheckFailed(f"{name}: the task came back changed")
                        if tries > 1:
                            fire(hook, "SYNC", "write retried", time.perf_counter())
                        return
                time.sleep(0.2)
            raise CheckFailed(f"{name}: no try succeeded in {RETRY_FOR_S:g}s ({tries} tries)")
