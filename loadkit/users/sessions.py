"""SessionUser: bursts of cold-starting sessions, warm restarts, idling and expiry.

Burst mode (default): a user opens ``--session-burst-size`` sessions
``--session-burst-spacing`` seconds apart, each for a new user+project (a
cold start), polls them until ready and fires one ``SESSION ready cold``
event per session (time from activation to ready, as seen by the client, to
within ``--session-poll-interval``). If the profile reports warm starts, it
then opens a second session for each same user+project, which must be a
warm start and fires ``SESSION ready warm``; then closes them all.

With ``--session-expiry-deadline S`` > 0, users also run an expiry probe:
one session is left without activity and must go ``idle`` then ``expired``
within S seconds (``SESSION expiry``, timed from the last activity), after
which activity must be refused. Set the target's ``--idle-after-s`` /
``--expire-after-s`` short for this.

Sustained mode (``--session-mode sustained``): each user starts
``--session-rate`` activations per second (open model, see
:class:`loadkit.load.arrival.ArrivalRate`): open, wait until ready, close. Each
activation is an ``ITER session activation`` event timed from its intended
start; activations that cannot start on time are ``ITER session activation
dropped`` failures.

The calls are the service profile's (:class:`~loadkit.users.profile.api.SessionAPI`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from typing import Any, ClassVar

from locust import FastHttpUser, events

from loadkit.audit.record import accepted
from loadkit.load.arrival import ArrivalRate
from loadkit.users import args, webui  # noqa: F401  (webui: checks the web UI's values)
from loadkit.users.events import PROCESS_TOKEN, CheckFailed, fire, next_user_number
from loadkit.users.profile.api import SessionAPI
from loadkit.users.profile.loader import add_profile_argument, profile_for

__all__ = ["SessionUser"]

OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("mode", {"choices": ["burst", "sustained"], "default": "burst",
        "help": "bursts of N sessions, or a steady rate of activations"}),
    ("burst-size", {"type": args.positive_int, "default": 5, "help": "sessions opened per burst"}),
    ("burst-spacing", {"type": args.non_negative_float, "default": 0.05,
        "help": "seconds between the sessions of a burst"}),
    ("poll-interval", {"type": args.positive_float, "default": 0.05,
        "help": "seconds between session state polls"}),
    ("ready-deadline", {"type": args.positive_float, "default": 30.0,
        "help": "seconds after which a session not ready is a failure"}),
    ("expiry-deadline", {"type": args.non_negative_float, "default": 0.0,
        "help": "run the idle/expiry probe, failing after this many seconds (0 = off)"}),
    ("rate", {"type": args.positive_float, "default": 1.0,
        "help": "sustained mode: activations started per second per user"}),
    ("max-in-flight", {"type": args.positive_int, "default": 50,
        "help": "sustained mode: activations running at once per user"}),
    ("wait", {"type": args.non_negative_float, "default": 1.0,
        "help": "burst mode: seconds between bursts"}),
)  # fmt: skip


def add_arguments(parser: Any) -> None:
    """``--session-*`` (unchanged names)."""
    group = args.WebArguments(parser)
    add_profile_argument(group)
    for name, options in OPTIONS:
        group.add_argument(f"--session-{name}", **options)


events.init_command_line_parser.add_listener(add_arguments)


class SessionUser(FastHttpUser):
    """Opens sessions in bursts (or at a steady rate); see the module docstring.

    Abstract: subclass it in a locustfile. Set ``session_api`` on the subclass
    to use a Python adapter instead of ``--user-profile``.
    """

    abstract = True
    concurrency = 64  # sustained mode runs activations side by side on one client
    session_api: ClassVar[SessionAPI | None] = None

    def wait_time(self) -> float:
        return float(self.option("wait", 1.0))

    def option(self, name: str, default: Any) -> Any:
        return args.setting(self.environment, "session_" + name, default)

    def on_start(self) -> None:
        self.api: SessionAPI = self.session_api or profile_for(self.environment).sessions
        self.number = next_user_number("sessions")
        self.ids = itertools.count()
        self.poll_s = float(self.option("poll_interval", 0.05))
        self.deadline_s = float(self.option("ready_deadline", 30.0))
        self.request_hook = self.environment.events.request
        if self.option("mode", "burst") == "sustained":
            self.tasks = self.sustained_tasks
        elif float(self.option("expiry_deadline", 0.0)) > 0 and self.api.supports("activity"):
            self.tasks = self.burst_tasks * 3 + self.expiry_tasks

    def new_identity(self) -> tuple[str, str]:
        """A user+project pair nobody used before: its first session is a cold start."""
        return f"lk-{PROCESS_TOKEN}-{self.number}-{next(self.ids)}", "project"

    def open(self, user_id: str, project: str, expect_warm: bool | None) -> tuple[str, float, bool]:
        """Activate; returns (session_id, perf_counter at the request, warm)."""
        started = time.perf_counter()
        start = self.api.activate(
            self.client, client_id=f"lk-{PROCESS_TOKEN}-{self.number}", user_id=user_id,
            project=project,
        )  # fmt: skip
        accepted(self.environment, "sessions", start.session_id, api=self.api)  # the loss audit
        if expect_warm is not None and start.warm is not None and start.warm != expect_warm:
            kind = "warm" if expect_warm else "cold"
            raise CheckFailed(
                f"session {start.session_id} for {user_id}/{project}: expected a {kind} start,"
                f" got warm={start.warm}"
            )
        return start.session_id, started, bool(start.warm)

    def await_ready(self, pending: dict[str, float], name: str) -> None:
        """Poll ``pending`` ({session_id: started}) until ready; one event per session."""
        deadline = time.monotonic() + self.deadline_s
        while pending:
            for session_id, started in list(pending.items()):
                try:
                    state = self.api.state(self.client, session_id)
                except CheckFailed as exc:
                    state = f"unreadable ({exc})"
                if state in ("ready", "idle"):  # idle: it was ready, we polled late
                    fire(self.request_hook, "SESSION", name, started)
                    del pending[session_id]
                elif state != "starting":
                    del pending[session_id]
                    problem = f"session {session_id} went {state} before it was ready"
                    fire(
                        self.request_hook, "SESSION", name, started, exception=CheckFailed(problem)
                    )
            if pending and time.monotonic() >= deadline:
                for session_id, started in pending.items():
                    problem = f"session {session_id} not ready after {self.deadline_s:g}s"
                    fire(
                        self.request_hook, "SESSION", name, started, exception=CheckFailed(problem)
                    )
                return
            if pending:
                time.sleep(self.poll_s)

    def close(self, session_ids: list[str]) -> None:
        if not self.api.supports("close"):
            return
        for session_id in session_ids:
            # recorded first: a user stopped between the DELETE and the record would leave
            # a closed session the audit calls lost (a 404 of a session still open is not
            # possible: an unclosed one still answers, and reads as reached)
            accepted(self.environment, "sessions", session_id, closed=True)
            with contextlib.suppress(CheckFailed):  # already a failed request; go on
                self.api.close(self.client, session_id)

    # -- tasks ------------------------------------------------------------------------

    def _open_all(
        self, identities: list[tuple[str, str]], warm: bool, opened: dict[str, tuple[str, str]]
    ) -> dict[str, float]:
        name = "ready warm" if warm else "ready cold"
        spacing = float(self.option("burst_spacing", 0.05))
        pending: dict[str, float] = {}
        for index, identity in enumerate(identities):
            if index and spacing and not warm:
                time.sleep(spacing)
            try:
                session_id, started, _ = self.open(*identity, expect_warm=warm)
            except CheckFailed as exc:
                fire(self.request_hook, "SESSION", name, time.perf_counter(), exception=exc)
                continue
            pending[session_id] = started
            opened[session_id] = identity
        return pending

    def burst(self) -> None:
        size = int(self.option("burst_size", 5))
        opened: dict[str, tuple[str, str]] = {}
        try:
            cold = self._open_all([self.new_identity() for _ in range(size)], False, opened)
            self.await_ready(cold, "ready cold")
            if self.api.supports("warm"):
                warm = self._open_all(list(opened.values()), True, opened)
                self.await_ready(warm, "ready warm")
        finally:
            self.close(list(opened))

    def expiry(self) -> None:
        limit = float(self.option("expiry_deadline", 0.0))
        last_active = time.perf_counter()
        try:
            session_id, started, _ = self.open(*self.new_identity(), expect_warm=False)
            self.await_ready({session_id: started}, "ready cold")
            self.api.activity(self.client, session_id)
            last_active = time.perf_counter()
            seen: list[str] = []
            deadline = time.monotonic() + limit
            while not seen or seen[-1] != "expired":
                if seen and time.monotonic() >= deadline:
                    raise CheckFailed(f"session {session_id} not expired after {limit:g}s: {seen}")
                if seen:
                    time.sleep(max(self.poll_s, 0.2))
                state = self.api.state(self.client, session_id)
                if not seen or seen[-1] != state:
                    seen.append(state)
            expired = time.perf_counter()
            if "idle" not in seen:
                raise CheckFailed(f"session {session_id} expired without going idle: {seen}")
            self.api.activity(self.client, session_id, expect_gone=True)
        except CheckFailed as exc:
            fire(self.request_hook, "SESSION", "expiry", last_active, exception=exc)
            return
        elapsed_ms = (expired - last_active) * 1000.0
        fire(self.request_hook, "SESSION", "expiry", last_active, response_time_ms=elapsed_ms)

    def activation(self) -> None:
        """Sustained mode: open one session (warm or cold, as the server decides), await, close."""
        user_id = f"lk-{PROCESS_TOKEN}-{self.number}"
        project = f"p{next(self.ids) % 4}"
        session_id, started, warm = self.open(user_id, project, expect_warm=None)
        self.await_ready({session_id: started}, "ready warm" if warm else "ready cold")
        self.close([session_id])

    def sustained(self) -> None:
        plan = ArrivalRate(
            rate_per_s=float(self.option("rate", 1.0)),
            max_in_flight=int(self.option("max_in_flight", 50)),
            name="session activation",
        )
        plan.run(self.activation, self.request_hook)

    tasks = [burst]  # noqa: RUF012  (Locust sets it per instance in on_start)
    burst_tasks: ClassVar[list[Any]] = [burst]
    expiry_tasks: ClassVar[list[Any]] = [expiry]
    sustained_tasks: ClassVar[list[Any]] = [sustained]
