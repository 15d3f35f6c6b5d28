"""SessionBurstUser: bursts of cold-starting sessions, warm restarts, idling and expiry.

Burst mode (default): a user opens ``--session-burst-size`` sessions
``--session-burst-spacing`` seconds apart, each for a new user+project (a
cold start), polls them until ready and fires one ``SESSION ready cold``
event per session (time from ``POST /sessions`` to ready, as seen by the
client, to within ``--session-poll-interval``). It then opens a second
session for each same user+project, which must be a warm start (``warm:
true``) and fires ``SESSION ready warm``; then deletes them all.

With ``--session-expiry-deadline S`` > 0, users also run an expiry probe:
one session is left without activity and must go ``idle`` then ``expired``
within S seconds (``SESSION expiry``, timed from the last activity), after
which ``POST /sessions/{id}/activity`` must answer 409. Set the target's
``--idle-after-s`` / ``--expire-after-s`` short for this.

Sustained mode (``--session-mode sustained``): each user starts
``--session-rate`` activations per second (open model, see
:class:`loadkit.load.arrival.ArrivalRate`): open, wait until ready, delete. Each
activation is an ``ITER session activation`` event timed from its intended
start; activations that cannot start on time are ``ITER session activation
dropped`` failures.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from typing import Any, ClassVar

import common
from common import CheckFailed
from locust import FastHttpUser, events

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.audit import accepted
from loadkit.load.arrival import ArrivalRate

READY_STATES = frozenset({"ready"})


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = common.WebArguments(parser)
    group.add_argument(
        "--session-mode",
        choices=["burst", "sustained"],
        default="burst",
        help="bursts of N sessions, or a steady rate of activations",
    )
    group.add_argument(
        "--session-burst-size",
        type=common.positive_int,
        default=5,
        help="sessions opened per burst",
    )
    group.add_argument(
        "--session-burst-spacing",
        type=common.non_negative_float,
        default=0.05,
        help="seconds between the sessions of a burst",
    )
    group.add_argument(
        "--session-poll-interval",
        type=common.positive_float,
        default=0.05,
        help="seconds between GET /sessions/{id} polls",
    )
    group.add_argument(
        "--session-ready-deadline",
        type=common.positive_float,
        default=30.0,
        help="seconds after which a session not ready is a failure",
    )
    group.add_argument(
        "--session-expiry-deadline",
        type=common.non_negative_float,
        default=0.0,
        help="run the idle/expiry probe, failing after this many seconds (0 = off)",
    )
    group.add_argument(
        "--session-rate",
        type=common.positive_float,
        default=1.0,
        help="sustained mode: activations started per second per user",
    )
    group.add_argument(
        "--session-max-in-flight",
        type=common.positive_int,
        default=50,
        help="sustained mode: activations running at once per user",
    )
    group.add_argument(
        "--session-wait",
        type=common.non_negative_float,
        default=1.0,
        help="burst mode: seconds between bursts",
    )


class SessionBurstUser(FastHttpUser):
    """Opens sessions in bursts (or at a steady rate); see the module docstring."""

    abstract = False
    concurrency = 64  # sustained mode runs activations side by side on one client

    def wait_time(self) -> float:
        return float(common.setting(self.environment, "session_wait", 1.0))

    def on_start(self) -> None:
        env = self.environment
        self.number = common.next_user_number("sessions")
        self.ids = itertools.count()
        self.poll_s = float(common.setting(env, "session_poll_interval", 0.05))
        self.deadline_s = float(common.setting(env, "session_ready_deadline", 30.0))
        if common.setting(env, "session_mode", "burst") == "sustained":
            self.tasks = self.sustained_tasks
        elif float(common.setting(env, "session_expiry_deadline", 0.0)) > 0:
            self.tasks = self.burst_tasks * 3 + self.expiry_tasks

    # -- HTTP ------------------------------------------------------------------------

    def _call(self, method: str, path: str, name: str, expect: int, body: Any = None) -> Any:
        with self.client.request(method, path, name=name, json=body, catch_response=True) as resp:
            if resp.status_code != expect:
                detail = (resp.text or str(resp.error or ""))[:160].replace("\n", " ")
                message = f"{method} {path}: HTTP {resp.status_code}, expected {expect}: {detail}"
                resp.failure(message)
                raise CheckFailed(message)
            resp.success()
            try:
                data = resp.json() if resp.text else {}
            except ValueError:
                resp.failure(f"{method} {path}: the answer is not JSON")
                raise CheckFailed(f"{method} {path}: the answer is not JSON") from None
            return data if isinstance(data, dict) else {}

    def new_identity(self) -> tuple[str, str]:
        """A user+project pair nobody used before: its first session is a cold start."""
        return f"lk-{common.PROCESS_TOKEN}-{self.number}-{next(self.ids)}", "project"

    def open(self, user_id: str, project: str, expect_warm: bool | None) -> tuple[str, float, bool]:
        """``POST /sessions``; returns (session_id, perf_counter at the request, warm)."""
        started = time.perf_counter()
        body = {
            "client_id": f"lk-{common.PROCESS_TOKEN}-{self.number}",
            "user_id": user_id,
            "project": project,
        }
        data = self._call("POST", "/sessions", "/sessions", 201, body)
        session_id = data.get("session_id")
        if not isinstance(session_id, str):
            raise CheckFailed(f"POST /sessions: no session_id in {str(data)[:120]}")
        accepted(self.environment, "sessions", session_id)
        if expect_warm is not None and bool(data.get("warm")) != expect_warm:
            kind = "warm" if expect_warm else "cold"
            raise CheckFailed(
                f"session {session_id} for {user_id}/{project}: expected a {kind} start,"
                f" got warm={data.get('warm')}"
            )
        return session_id, started, bool(data.get("warm"))

    def get(self, session_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", f"/sessions/{session_id}", "/sessions/[id]", 200)
        return data

    def await_ready(self, pending: dict[str, float], name: str) -> None:
        """Poll ``pending`` ({session_id: started}) until ready; one event per session."""
        deadline = time.monotonic() + self.deadline_s
        while pending:
            for session_id, started in list(pending.items()):
                state = self.get(session_id).get("state")
                if state in ("ready", "idle"):  # idle: it was ready, we polled late
                    common.fire(self.environment, "SESSION", name, started)
                    del pending[session_id]
                elif state not in ("starting",):
                    del pending[session_id]
                    common.fire(
                        self.environment,
                        "SESSION",
                        name,
                        started,
                        exception=CheckFailed(
                            f"session {session_id} went {state} before it was ready"
                        ),
                    )
            if pending and time.monotonic() >= deadline:
                for session_id, started in pending.items():
                    common.fire(
                        self.environment,
                        "SESSION",
                        name,
                        started,
                        exception=CheckFailed(
                            f"session {session_id} not ready after {self.deadline_s:g}s"
                        ),
                    )
                return
            if pending:
                time.sleep(self.poll_s)

    def delete(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            with contextlib.suppress(CheckFailed):  # already a failed request; go on
                self._call("DELETE", f"/sessions/{session_id}", "/sessions/[id]", 200)
                accepted(self.environment, "sessions", session_id, closed=True)

    # -- tasks ------------------------------------------------------------------------

    def burst(self) -> None:
        env = self.environment
        size = int(common.setting(env, "session_burst_size", 5))
        spacing = float(common.setting(env, "session_burst_spacing", 0.05))
        cold: dict[str, float] = {}
        identities: dict[str, tuple[str, str]] = {}
        try:
            for index in range(size):
                if index and spacing:
                    time.sleep(spacing)
                identity = self.new_identity()
                try:
                    session_id, started, _ = self.open(*identity, expect_warm=False)
                except CheckFailed as exc:
                    common.fire(env, "SESSION", "ready cold", time.perf_counter(), exception=exc)
                    continue
                cold[session_id] = started
                identities[session_id] = identity
            self.await_ready(dict(cold), "ready cold")
            warm: dict[str, float] = {}
            for identity in list(identities.values()):
                try:
                    session_id, started, _ = self.open(*identity, expect_warm=True)
                except CheckFailed as exc:
                    common.fire(env, "SESSION", "ready warm", time.perf_counter(), exception=exc)
                    continue
                warm[session_id] = started
                identities[session_id] = identity
            self.await_ready(dict(warm), "ready warm")
        finally:
            self.delete(list(identities))

    def expiry(self) -> None:
        env = self.environment
        limit = float(common.setting(env, "session_expiry_deadline", 0.0))
        last_active = time.perf_counter()
        try:
            session_id, started, _ = self.open(*self.new_identity(), expect_warm=False)
            self.await_ready({session_id: started}, "ready cold")
            self._call("POST", f"/sessions/{session_id}/activity", "/sessions/[id]/activity", 200)
            last_active = time.perf_counter()
            seen: list[str] = []
            deadline = time.monotonic() + limit
            while not seen or seen[-1] != "expired":
                if seen and time.monotonic() >= deadline:
                    raise CheckFailed(f"session {session_id} not expired after {limit:g}s: {seen}")
                if seen:
                    time.sleep(max(self.poll_s, 0.2))
                state = str(self.get(session_id).get("state"))
                if not seen or seen[-1] != state:
                    seen.append(state)
            expired = time.perf_counter()
            if "idle" not in seen:
                raise CheckFailed(f"session {session_id} expired without going idle: {seen}")
            self._call("POST", f"/sessions/{session_id}/activity", "/sessions/[id]/activity", 409)
        except CheckFailed as exc:
            common.fire(env, "SESSION", "expiry", last_active, exception=exc)
            return
        common.fire(
            env, "SESSION", "expiry", last_active, response_time_ms=(expired - last_active) * 1000.0
        )

    def activation(self) -> None:
        """Sustained mode: open one session (warm or cold, as the server decides), await, delete."""
        user_id = f"lk-{common.PROCESS_TOKEN}-{self.number}"
        project = f"p{next(self.ids) % 4}"
        session_id, started, warm = self.open(user_id, project, expect_warm=None)
        self.await_ready({session_id: started}, "ready warm" if warm else "ready cold")
        self.delete([session_id])

    def sustained(self) -> None:
        env = self.environment
        plan = ArrivalRate(
            rate_per_s=float(common.setting(env, "session_rate", 1.0)),
            max_in_flight=int(common.setting(env, "session_max_in_flight", 50)),
            name="session activation",
        )
        plan.run(self.activation, env.events.request)

    tasks: ClassVar[list[Any]] = [burst]
    burst_tasks: ClassVar[list[Any]] = [burst]
    expiry_tasks: ClassVar[list[Any]] = [expiry]
    sustained_tasks: ClassVar[list[Any]] = [sustained]
