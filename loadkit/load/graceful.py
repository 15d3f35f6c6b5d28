"""Stopping a run waits for the users' graceful stop, also on a master with workers.

Locust stops a user by killing its greenlet; an open-model user
(:mod:`loadkit.load.arrival`) then lets its iterations in flight finish for its
graceful stop, or counts them as interrupted. Locust 2.47 does not wait for that
everywhere:

- gevent clears a killed greenlet's ``args``, so a worker counts a user in its
  graceful stop as gone and reports no users at once. A master's stop, which waits
  until its workers report none, returned while they were still stopping: its
  ``test_stop`` came first and the run directory was closed before their last events
  (a web-UI Stop, or the end of a plan in the web UI).
- A master's quit tells its workers to quit and exits 0.5 s later, whatever they
  were doing (the end of a headless plan, a Ctrl-C).

:func:`install` replaces a master's stop with Locust's own, whose wait for the
workers is replaced: it tells its workers to stop and waits until each has (a worker
reports ``client_stopped`` after its users' graceful stop and its last statistics). One
stop path: ``test_stopping`` and ``test_stop`` fire once per stop. Every quit stops the
users first, with that stop. The wait is bounded by :data:`WORKERS_WAIT_S`, less than
``loadkit run``'s wait before it kills Locust.

While a stop waits, the master or local runner writes ``stopping`` events (the users
still running, the longest graceful stop known): ``loadkit run``'s status line shows
them instead of the last interval's figures.
"""

from __future__ import annotations

import time
from typing import Any

from loadkit.plugin.context import context_of
from loadkit.rundir.layout import EventType

__all__ = ["STOPPING_POLL_S", "WORKERS_WAIT_S", "grace_s", "install"]

WORKERS_WAIT_S = 50.0  # < run/locust.py STOP_GRACE_S (60 s): the wait ends before a kill
STOPPING_POLL_S = 0.5  # how often a stop's users still running are counted


def _working_clients(runner: Any) -> list[Any]:
    """A master's workers that were given users (not idle, not missing)."""
    from locust.runners import STATE_INIT, STATE_MISSING

    return [c for c in runner.clients.all if c.state not in (STATE_INIT, STATE_MISSING)]


def _stop_workers(runner: Any) -> None:
    """Tell the workers running users to stop; wait until each has stopped."""
    import gevent
    from locust.rpc import Message
    from locust.runners import STATE_INIT

    ids = [c.id for c in _working_clients(runner)]
    for client_id in ids:
        message = Message("stop", None, client_id)  # type: ignore[no-untyped-call]
        runner.server.send_to_client(message)

    def stopped(client_id: str) -> bool:  # client_stopped removes it; client_ready adds it back
        client = runner.clients.get(client_id)
        return client is None or client.state == STATE_INIT

    deadline = time.monotonic() + WORKERS_WAIT_S
    while not all(stopped(i) for i in ids) and time.monotonic() < deadline:
        gevent.sleep(0.2)


def _master_stop(runner: Any, send_stop_to_client: bool = True) -> None:
    """Locust 2.47's ``MasterRunner.stop``, with a wait for the workers that works.

    One path, in Locust's order: ``test_stopping`` (once: the faults revert before the
    wait), the state ``stopping`` (a worker that has stopped is not given users again),
    no more shape ticks, the stop sent to the workers and the wait until each has stopped
    (:func:`_stop_workers`), then ``test_stop`` (where the run directory is closed).
    """
    from gevent import getcurrent
    from locust.runners import STATE_INIT, STATE_STOPPED, STATE_STOPPING

    if runner.state in (STATE_INIT, STATE_STOPPED, STATE_STOPPING):
        return
    environment = runner.environment
    environment.events.test_stopping.fire(environment=environment)
    runner.final_user_classes_count = {**runner.reported_user_classes_count}
    runner.update_state(STATE_STOPPING)
    shape = runner.shape_greenlet
    if shape is not None and shape is not getcurrent():
        shape.kill(block=True)
        runner.shape_greenlet = runner.shape_last_tick = None
    runner._users_dispatcher = None
    if send_stop_to_client:
        _stop_workers(runner)
    environment.events.test_stop.fire(environment=environment)


def grace_s(environment: Any) -> float | None:
    """The longest graceful stop the run's users have, None when none is known.

    Locust's ``--stop-timeout`` for every user; an open-model user's own
    (``arrival.graceful_stop_s``, unless its ``arrival_plan()`` chooses the plan).
    """
    from loadkit.load.arrival import OpenModelUser

    graces = [float(environment.stop_timeout or 0.0)]
    for user_class in environment.user_classes or ():
        if (
            issubclass(user_class, OpenModelUser)
            and user_class.arrival_plan is OpenModelUser.arrival_plan
        ):
            graces.append(user_class.arrival.graceful_stop_s)
    return max(graces) or None


class _StoppingEvents:
    """``stopping`` events while a stop waits for the users' graceful stop.

    One when the stop begins, then one whenever the count of users still running
    changes, and the count at ``test_stop``. A master counts what each worker running
    users last reported (Locust's own count leaves out users in their graceful stop).
    """

    def __init__(self, runner: Any, master: bool) -> None:
        self.runner, self.master = runner, master
        self.reported: dict[str, int] = {}  # a master: each worker's last ``user_count``
        self._follower: Any = None
        self._last: int | None = None

    def install(self) -> None:
        events = self.runner.environment.events
        events.test_stopping.add_listener(self.on_test_stopping)
        events.test_stop.add_listener(self.on_test_stop)
        if self.master:
            events.test_start.add_listener(lambda **_kwargs: self.reported.clear())
            events.worker_report.add_listener(self.on_worker_report)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
        count = data.get("user_count")
        if isinstance(count, int):
            self.reported[client_id] = count

    def users(self) -> int:
        """The users still running: also those in their graceful stop."""
        if not self.master:
            return len(self.runner.user_greenlets)
        return sum(
            max(self.reported.get(client.id, 0), client.user_count)
            for client in _working_clients(self.runner)
        )

    def _note(self, grace: float | None) -> None:
        context = context_of(self.runner.environment)
        recorder = context.recorder if context is not None else None
        users = self.users()
        if recorder is not None and users != self._last:
            self._last = users
            recorder.event(EventType.STOPPING, users=users, grace_s=grace)

    def on_test_stopping(self, **_kwargs: Any) -> None:
        import gevent

        self._kill_follower()
        self._last = None
        grace = grace_s(self.runner.environment)
        self._note(grace)

        def follow() -> None:
            while True:
                gevent.sleep(STOPPING_POLL_S)
                self._note(grace)

        self._follower = gevent.spawn(follow)

    def on_test_stop(self, **_kwargs: Any) -> None:
        if self._kill_follower():
            self._note(grace_s(self.runner.environment))

    def _kill_follower(self) -> bool:
        follower, self._follower = self._follower, None
        if follower is None:
            return False
        follower.kill(block=False)
        return True


def install(runner: Any) -> None:
    """Replace ``runner``'s stop (a master's) and wrap its quit so that they wait for the
    users' graceful stop."""
    from locust.runners import MasterRunner, WorkerRunner

    quit_now, master = runner.quit, isinstance(runner, MasterRunner)

    def stop(send_stop_to_client: bool = True) -> None:
        _master_stop(runner, send_stop_to_client)

    def quit() -> None:
        runner.stop()  # a master: the stop above, waiting for its workers
        quit_now()  # Locust's quit: its own stop finds the test stopped already

    if master:
        runner.stop = stop
    runner.quit = quit
    if not isinstance(runner, WorkerRunner):  # the master or local runner writes the run dir
        _StoppingEvents(runner, master).install()
