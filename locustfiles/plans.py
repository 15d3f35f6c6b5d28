"""The users of the shipped test-plan scenarios (``scenarios/*.yaml``, README "Shipped scenarios").

The three behaviours of :mod:`loadkit.users` (``WorkspaceUser``,
``SessionBurstUser``, ``SyncClientUser``, re-exported here) carry most of each
plan. The users below check what they cannot, on the built-in target's API
(``docs/target-api.md``); each check is one request event, failed with a
one-line message when the service breaks the expectation:

- ``CleanupUser`` — ``CLEANUP ttl``: a response older than the TTL is deleted
  by ``POST /cleanup/run``, a younger one is kept.
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

import itertools
import time
import uuid
from typing import Any

import gevent
import gevent.pool
from locust import FastHttpUser, constant, task
from sessions import SessionBurstUser
from sync import SyncClientUser
from workspace import WorkspaceUser

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.load.arrival import ArrivalRate
from loadkit.users import JobUser, SessionUser
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
    "WorkspaceUser",
]

CLEANUP_TTL_S = 4.0
ECHO_JOBS_PER_S = 2.0
PREVIEW_HOLD_S = 20.0
EXPIRY_LIMIT_S = 300.0
QUEUE_MESSAGES = 5
BULK_COUNT = 1000
BULK_CLIENTS = 10
BIG_TASK_BYTES = 10 * 1024
RETRY_FOR_S = 40.0
WAIT_LIMIT_S = 60.0


def _wait(what: str, probe: Any, limit_s: float = WAIT_LIMIT_S, every_s: float = 0.1) -> Any:
    """Call ``probe()`` until it returns something truthy; CheckFailed after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise CheckFailed(f"{what}: not within {limit_s:g}s")
        time.sleep(every_s)


class CleanupUser(FastHttpUser):
    """Checks that cleanup deletes only the responses older than its TTL."""

    wait_time = constant(1.0)

    def _job(self, text: str) -> str:
        body = {"workspace": f"lk-cleanup-{PROCESS_TOKEN}", "command": f"echo {text}"}
        job = call_json(self.client, "POST", "/execute", name="/execute", expect=202, body=body)
        request_id = str(job["request_id"])

        def done() -> bool:
            status = call_json(self.client, "GET", f"/status/{request_id}", name="/status/[id]")
            return status["state"] in ("completed", "failed", "timeout", "interrupted")

        _wait(f"job {request_id}", done)
        return request_id

    @task
    def cleanup_ttl(self) -> None:
        with checked(self.environment.events.request, "CLEANUP", "ttl"):
            old = self._job("old")
            aged = time.monotonic() + CLEANUP_TTL_S + 0.5
            while time.monotonic() < aged:  # a look now and then: no idle keep-alive to lose
                call_json(self.client, "GET", f"/status/{old}", name="/status/[id]")
                time.sleep(0.5)
            young = self._job("young")
            call_json(self.client, "POST", "/cleanup/run", name="/cleanup/run",
                      body={"ttl_s": CLEANUP_TTL_S})  # fmt: skip
            with self.client.get(f"/responses/{old}", name="/responses/[id]",
                                 catch_response=True) as resp:  # fmt: skip
                resp.success()  # a 404 is what this check wants
                if resp.status_code != 404:
                    raise CheckFailed(f"response of {old}, older than the TTL, not deleted")
            kept = call_json(self.client, "GET", f"/responses/{young}", name="/responses/[id]")
            if kept.get("output") != "young":
                raise CheckFailed(f"response of {young}, younger than the TTL, lost: {kept}")


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


class SustainedSessionUser(SessionUser):
    """A SessionUser always in sustained mode (``--session-rate`` activations per second)."""

    def option(self, name: str, default: Any) -> Any:
        return "sustained" if name == "mode" else super().option(name, default)


class ExpiryUser(SessionUser):
    """A SessionUser that only runs the idle/expiry probe, limited to ``EXPIRY_LIMIT_S``."""

    def option(self, name: str, default: Any) -> Any:
        return EXPIRY_LIMIT_S if name == "expiry_deadline" else super().option(name, default)

    def on_start(self) -> None:
        super().on_start()
        self.tasks = [SessionUser.expiry]


class _Sessions(FastHttpUser):
    abstract = True

    def open(self, user_id: str, project: str) -> dict[str, Any]:
        body = {"client_id": f"lk-{PROCESS_TOKEN}", "user_id": user_id, "project": project}
        return call_json(self.client, "POST", "/sessions", name="/sessions", expect=201, body=body)

    def session(self, session_id: str, wait_ready_s: float = 0) -> dict[str, Any]:
        query = f"?wait_ready_s={wait_ready_s:g}" if wait_ready_s else ""
        return call_json(self.client, "GET", f"/sessions/{session_id}{query}",
                         name="/sessions/[id]")  # fmt: skip

    def close(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            try:
                call_json(self.client, "DELETE", f"/sessions/{session_id}", name="/sessions/[id]")
            except CheckFailed:
                continue


class PreviewUser(_Sessions):
    """Three concurrent preview sessions of three users, isolated and kept alive."""

    wait_time = constant(0.5)

    @task
    def previews(self) -> None:
        number = next_user_number("preview")
        opened: list[str] = []
        with checked(self.environment.events.request, "PREVIEW", "isolated"):
            for index in range(3):
                user = f"lk-preview-{PROCESS_TOKEN}-{number}-{index}"
                opened.append(str(self.open(user, "preview")["session_id"]))
            ready = [self.session(session_id, wait_ready_s=30) for session_id in opened]
            containers = {str(s.get("container_id")) for s in ready}
            if len(containers) != 3 or any(s.get("state") != "ready" for s in ready):
                raise CheckFailed(f"3 users' sessions share containers or are not ready: {ready}")
        until = time.monotonic() + PREVIEW_HOLD_S
        while time.monotonic() < until:  # keep them alive; the audit says if they survive
            for session_id in opened:
                self.client.post(f"/sessions/{session_id}/activity",
                                 name="/sessions/[id]/activity")  # fmt: skip
            time.sleep(1.0)
        self.close(opened)


class SessionQueueUser(_Sessions):
    """Containers per user+project, per-session message order, interrupts keeping output."""

    wait_time = constant(0.2)

    def on_start(self) -> None:
        self.number = next_user_number("queues")
        self.round = 0

    def send(self, session_id: str, command: str) -> dict[str, Any]:
        return call_json(self.client, "POST", f"/sessions/{session_id}/messages",
                         name="/sessions/[id]/messages", expect=202,
                         body={"command": command})  # fmt: skip

    def message(self, session_id: str, message_id: str, wait_s: float = 0) -> dict[str, Any]:
        query = f"?wait_s={wait_s:g}" if wait_s else ""
        return call_json(self.client, "GET",
                         f"/sessions/{session_id}/messages/{message_id}{query}",
                         name="/sessions/[id]/messages/[id]")  # fmt: skip

    def finished(self, session_id: str, message_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            found = self.message(session_id, message_id, wait_s=5)
            return found if found["state"] not in ("queued", "processing") else None

        result: dict[str, Any] = _wait(f"message {message_id}", done)
        return result

    @task
    def plan(self) -> None:
        hook = self.environment.events.request
        self.round += 1
        user = f"lk-q-{PROCESS_TOKEN}-{self.number}-{self.round}"
        opened: list[str] = []
        try:
            with checked(hook, "QUEUE", "container"):
                first = self.open(user, "alpha")
                opened.append(str(first["session_id"]))
                self.session(opened[0], wait_ready_s=30)
                same = self.open(user, "alpha")
                other_project = self.open(user, "beta")
                other_user = self.open(user + "-x", "alpha")
                opened += [str(s["session_id"]) for s in (same, other_project, other_user)]
                if same["container_id"] != first["container_id"]:
                    raise CheckFailed(f"same user+project, containers differ: {first} {same}")
                for other in (other_project, other_user):
                    if other["container_id"] == first["container_id"]:
                        raise CheckFailed(f"{other} shares {first['container_id']}")
            self.order(hook, opened[2])
            self.interrupts(hook, opened[3])
        except CheckFailed:
            pass  # already a failed event
        finally:
            self.close(opened)

    def order(self, hook: Any, session_id: str) -> None:
        with checked(hook, "QUEUE", "order"):
            sent = [self.send(session_id, f"echo m{i}") for i in range(QUEUE_MESSAGES)]
            self.finished(session_id, str(sent[-1]["message_id"]))
            listing = call_json(self.client, "GET", f"/sessions/{session_id}/messages",
                                name="/sessions/[id]/messages")  # fmt: skip
            messages = sorted(listing["messages"], key=lambda m: m["seq"])
            if [m.get("run_index") for m in messages] != [m["seq"] for m in messages]:
                runs = [(m["seq"], m.get("run_index")) for m in messages]
                raise CheckFailed(f"messages ran out of order, (seq, run_index): {runs}")
            for before, after in itertools.pairwise(messages):
                if (after.get("started_at") or 0) < (before.get("completed_at") or 0):
                    raise CheckFailed(
                        f"message {after['seq']} started before {before['seq']} ended"
                    )

    def interrupts(self, hook: Any, session_id: str) -> None:
        for _ in range(2):  # one after another in the same session
            with checked(hook, "QUEUE", "interrupt"):
                long = self.send(session_id, "lines 100 50")
                message_id = str(long["message_id"])

                def printing(message_id: str = message_id) -> bool:
                    return bool(self.message(session_id, message_id).get("output"))

                _wait(f"message {message_id} printing", printing, every_s=0.05)
                stopped = call_json(self.client, "POST",
                                    f"/sessions/{session_id}/messages/{message_id}/interrupt",
                                    name="/sessions/[id]/messages/[id]/interrupt")  # fmt: skip
                end = self.finished(session_id, message_id) if stopped["state"] == "processing" \
                    else stopped  # fmt: skip
                output = str(end.get("output") or "")
                if end["state"] != "interrupted" or not output.startswith("line 1\n"):
                    raise CheckFailed(f"interrupt: {end['state']} with output {output[:40]!r}")


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
