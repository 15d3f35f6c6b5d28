"""The session users of the shipped test-plan scenarios (re-exported by ``plans.py``).

See ``plans.py`` for what each one checks.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import gevent
import gevent.pool
from locust import FastHttpUser, constant, task

from loadkit.users import SessionUser
from loadkit.users.events import PROCESS_TOKEN, CheckFailed, checked, fire, next_user_number
from loadkit.users.http import call_json

__all__ = [
    "WAIT_LIMIT_S",
    "ExpiryUser",
    "PreviewUser",
    "SessionQueueUser",
    "SustainedSessionUser",
    "ThrottledBurstUser",
    "wait_until",
]

PREVIEW_HOLD_S = 20.0
EXPIRY_LIMIT_S = 300.0
QUEUE_MESSAGES = 5
THROTTLED_BURST = 20
WAIT_LIMIT_S = 60.0


def wait_until(what: str, probe: Any, limit_s: float = WAIT_LIMIT_S, every_s: float = 0.1) -> Any:
    """Call ``probe()`` until it returns something truthy; CheckFailed after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise CheckFailed(f"{what}: not within {limit_s:g}s")
        time.sleep(every_s)


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


class ThrottledBurstUser(_Sessions):
    """Bursts of ``THROTTLED_BURST`` activations at once, 429s handled, no session left open."""

    wait_time = constant(1.0)
    concurrency = THROTTLED_BURST  # connections: the burst goes out at once

    def on_start(self) -> None:
        self.client_id = f"lk-throttled-{PROCESS_TOKEN}-{next_user_number('throttled')}"
        self.round = 0

    def activate(self, index: int) -> str:
        """One activation, tried again after each 429's ``Retry-After``; its session id."""
        body = {"client_id": self.client_id, "project": "preview",
                "user_id": f"{self.client_id}-{self.round}-{index}"}  # fmt: skip
        deadline = time.monotonic() + WAIT_LIMIT_S
        while True:
            with self.client.post("/sessions", name="/sessions", json=body,
                                  catch_response=True) as resp:  # fmt: skip
                if resp.status_code == 201:
                    resp.success()
                    return str(resp.json()["session_id"])
                if resp.status_code != 429:
                    message = f"POST /sessions: HTTP {resp.status_code}: {resp.text[:120]}"
                    resp.failure(message)
                    raise CheckFailed(message)
                resp.success()  # a 429 is the limit working; this user handles it
                retry_after = float(resp.headers.get("Retry-After") or "nan")
            fire(self.environment.events.request, "SESSION", "throttled", time.perf_counter())
            if not 0 < retry_after <= WAIT_LIMIT_S:
                raise CheckFailed(f"429 without a usable Retry-After: {retry_after}")
            if time.monotonic() + retry_after > deadline:
                raise CheckFailed(f"activation {index}: still 429 after {WAIT_LIMIT_S:g}s")
            time.sleep(retry_after)

    def try_activate(self, index: int) -> str | CheckFailed:
        try:
            return self.activate(index)
        except CheckFailed as exc:
            return exc

    @task
    def burst(self) -> None:
        hook = self.environment.events.request
        self.round += 1
        opened: list[str] = []
        with checked(hook, "PREVIEW", "burst"):
            group = gevent.pool.Group()
            tries = [group.spawn(self.try_activate, i) for i in range(THROTTLED_BURST)]
            gevent.joinall(tries)
            opened = [job.value for job in tries if isinstance(job.value, str)]
            problems = [job.value for job in tries if not isinstance(job.value, str)]
            try:
                if problems:
                    raise CheckFailed(f"{len(problems)} of {THROTTLED_BURST}: {problems[0]}")
                ready = [self.session(session_id, wait_ready_s=30) for session_id in opened]
                # idle: it was ready (the first ones may idle while the last are read)
                if any(s.get("state") not in ("ready", "idle") for s in ready):
                    raise CheckFailed(f"not ready: {[s.get('state') for s in ready]}")
            finally:
                self.close(opened)
        with checked(hook, "PREVIEW", "orphans"):
            listing = call_json(self.client, "GET", f"/sessions?client_id={self.client_id}",
                                name="/sessions?client_id=[id]")  # fmt: skip
            left = [s["session_id"] for s in listing["sessions"] if s.get("state") != "expired"]
            if left:
                raise CheckFailed(f"{len(left)} sessions left open after the burst: {left[:3]}")


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

        result: dict[str, Any] = wait_until(f"message {message_id}", done)
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

                wait_until(f"message {message_id} printing", printing, every_s=0.05)
                stopped = call_json(self.client, "POST",
                                    f"/sessions/{session_id}/messages/{message_id}/interrupt",
                                    name="/sessions/[id]/messages/[id]/interrupt")  # fmt: skip
                end = self.finished(session_id, message_id) if stopped["state"] == "processing" \
                    else stopped  # fmt: skip
                output = str(end.get("output") or "")
                if end["state"] != "interrupted" or not output.startswith("line 1\n"):
                    raise CheckFailed(f"interrupt: {end['state']} with output {output[:40]!r}")
