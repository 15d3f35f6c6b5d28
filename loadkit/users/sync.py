"""SyncUser: a live-sync client on ``WS /ws``, some of them also writing.

Every user holds one WebSocket (:class:`loadkit.users.websocket.WebSocketClient`,
cooperative under gevent: one receiving greenlet per user, no threads) and
subscribes to ``--sync-repos-per-client`` of the ``--sync-repos`` shared repos.
A ``--sync-writer-share`` of the users also write over HTTP: they create and
update tasks (putting their write time in the task's ``meta``) and run batch
syncs with a deliberately stale change whose conflict must resolve
``server_wins``. The others only send a keep-alive ping now and then.

Request events (besides the HTTP calls and the client's own ``WS connect`` /
``send`` / ``subscribe`` / ``reconnect``):

- ``WS notify task.created`` / ``WS notify task.updated``: write → event
  received, end to end, for events written by loadkit writers.
- ``WS notify order`` (failure): a repo's ``seq`` skipped (missed events) or
  went back, or a task's ``version`` did not increase (services without a
  ``seq``: a task's ``version`` skipped, i.e. missed updates).
- ``SYNC conflict server_wins``: a batch sync whose stale change came back as
  a ``server_wins`` conflict with the server's newer version (failure if not).

A dropped connection is re-opened with backoff and re-subscribed; the
client fires ``WS reconnect`` (time from drop to subscribed again) and the
seq baseline of each repo restarts, since events sent meanwhile are gone.

The calls and messages are the service profile's
(:class:`~loadkit.users.profile.api.SyncAPI`, ``--user-profile``).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import uuid
from collections import deque
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser, events

from loadkit.users import args, webui  # noqa: F401  (webui: checks the web UI's values)
from loadkit.users.events import PROCESS_TOKEN, CheckFailed, checked, fire, next_user_number
from loadkit.users.profile.api import SyncAPI, SyncEvent, TaskRef
from loadkit.users.profile.loader import add_profile_argument, profile_for
from loadkit.users.websocket import (
    Backoff,
    WebSocketClient,
    WebSocketClosed,
    WebSocketTimeout,
    ws_url,
)

__all__ = ["SyncUser", "is_writer"]

RECEIVE_TIMEOUT_S = 30.0
OWN_TASKS_KEPT = 20
VERSIONS_KEPT = 2000  # tasks whose last version a client remembers
OWN_WRITES_KEPT = 20000
# (task_id, version) -> time written, by this process's writers: the latency of
# their notifications on services whose events carry no write time
OWN_WRITES: dict[tuple[str, int | None], float] = {}


def _add_arguments(parser: Any) -> None:
    group = args.WebArguments(parser)
    add_profile_argument(group)
    group.add_argument(
        "--sync-repos",
        type=args.positive_int,
        default=10,
        help="repos shared by all sync clients",
    )
    group.add_argument("--sync-repo-prefix", default="lk-repo", help="repo name prefix")
    group.add_argument(
        "--sync-repos-per-client",
        type=args.positive_int,
        default=2,
        help="repos each client subscribes to",
    )
    group.add_argument(
        "--sync-writer-share",
        type=args.probability,
        default=0.2,
        help="share of clients that also write tasks over HTTP",
    )
    group.add_argument(
        "--sync-write-interval",
        type=args.non_negative_float,
        default=1.0,
        help="seconds between a writer's writes",
    )
    group.add_argument(
        "--sync-batch-weight",
        type=args.non_negative_int,
        default=1,
        help="weight of a writer's batch syncs (creates: 2, updates: 6)",
    )
    group.add_argument(
        "--sync-ping-interval",
        type=args.positive_float,
        default=20.0,
        help="seconds between a listener's keep-alive pings",
    )
    group.add_argument(
        "--sync-reconnect-base",
        type=args.positive_float,
        default=0.2,
        help="first reconnect delay, seconds (doubles per attempt, jittered)",
    )
    group.add_argument(
        "--sync-reconnect-max",
        type=args.positive_float,
        default=5.0,
        help="largest reconnect delay, seconds",
    )


events.init_command_line_parser.add_listener(_add_arguments)


def is_writer(number: int, share: float) -> bool:
    """Spread writers evenly: user 0 writes, then every 1/share-th user."""
    return share > 0 and math.floor(number * share) != math.floor((number - 1) * share)


class SyncUser(FastHttpUser):
    """One live-sync client; see the module docstring. Abstract: subclass it in a locustfile."""

    abstract = True
    sync_api: ClassVar[SyncAPI | None] = None

    def wait_time(self) -> float:
        if self.writer:
            return float(args.setting(self.environment, "sync_write_interval", 1.0))
        return float(args.setting(self.environment, "sync_ping_interval", 20.0))

    def on_start(self) -> None:
        env = self.environment
        self.api: SyncAPI = self.sync_api or profile_for(env).sync
        number = next_user_number("sync")
        self.client_id = f"lk-{PROCESS_TOKEN}-{number}"
        prefix = args.setting(env, "sync_repo_prefix", "lk-repo")
        pool = int(args.setting(env, "sync_repos", 10))
        per_client = min(pool, int(args.setting(env, "sync_repos_per_client", 2)))
        self.all_repos = [f"{prefix}-{i}" for i in range(pool)]
        self.repos = [self.all_repos[(number + k) % pool] for k in range(per_client)]
        self.writer = is_writer(number, float(args.setting(env, "sync_writer_share", 0.2)))
        if self.writer:
            batch_weight = int(args.setting(env, "sync_batch_weight", 1))
            self.tasks = self.writer_tasks + [SyncUser.batch_sync] * batch_weight
        self.backoff = Backoff(
            base_s=float(args.setting(env, "sync_reconnect_base", 0.2)),
            max_s=max(
                float(args.setting(env, "sync_reconnect_max", 5.0)),
                float(args.setting(env, "sync_reconnect_base", 0.2)),
            ),
        )
        self.last_seq: dict[str, int] = {}
        self.seen_seq = False
        self.last_version: dict[str, int] = {}
        self.own_tasks: deque[TaskRef] = deque(maxlen=OWN_TASKS_KEPT)
        self.ws = WebSocketClient(
            ws_url(self.host or "", self.api.ws_path), env.events.request, fire_receive_events=False
        )
        self.receiver: gevent.Greenlet | None = None
        try:
            self.ws.connect()
            self._subscribe(self.ws)
        except (WebSocketClosed, WebSocketTimeout):
            self.ws.close()  # the receiver reconnects with backoff; tasks go on meanwhile
        self.receiver = gevent.spawn(self._receive_loop)

    def on_stop(self) -> None:
        if self.receiver is not None:  # stop receiving first: closing is not a drop
            self.receiver.kill(block=True, timeout=5)
        self.ws.close()

    # -- receiving -----------------------------------------------------------------

    def _subscribe(self, client: WebSocketClient) -> None:
        message, reply = self.api.subscribe(self.repos)
        if reply is None:
            client.send_json(message)
        else:
            client.request(message, expect_type=reply)
        self.last_seq.clear()  # events sent while we were away are gone: new baseline
        if not self.seen_seq:
            self.last_version.clear()  # no seq: the version baseline restarts likewise

    def _reconnect(self) -> bool:
        try:
            self.ws.reconnect(self.backoff, after_connect=self._subscribe)
        except WebSocketClosed:
            return False
        return True

    def _receive_loop(self) -> None:
        while True:
            if not self.ws.connected and not self._reconnect():
                gevent.sleep(self.backoff.max_s)
                continue
            try:
                message = self.ws.receive_json(timeout_s=RECEIVE_TIMEOUT_S)
            except WebSocketTimeout:
                continue
            except WebSocketClosed:
                continue  # reconnect on the next turn
            except ValueError:
                continue  # a non-JSON message, already fired as a failure
            self.handle(message)

    def handle(self, message: dict[str, Any]) -> None:
        """Check one server message and fire its events."""
        event = self.api.event(message)
        if event is None:
            return
        if isinstance(event, str):
            kind = message.get("type")
            if kind == "error":
                self._order_failure(f"server error: {event}", name="server error")
            else:
                self._order_failure(event)
            return
        received = time.time()
        if event.seq is not None:
            self.seen_seq = True
            self._check_seq(event.repo, event.seq)
        self._check_version(event)
        written_at = event.written_at
        if written_at is None:
            written_at = OWN_WRITES.get((event.task_id, event.version))
        if written_at is not None:
            fire(
                self.environment.events.request,
                "WS",
                f"notify {event.kind}",
                0.0,
                response_time_ms=max(0.0, (received - written_at) * 1000.0),
            )

    def _check_seq(self, repo: str, seq: int) -> None:
        last = self.last_seq.get(repo)
        if last is not None and seq != last + 1:
            if seq > last + 1:
                self._order_failure(f"missed {seq - last - 1} event(s) in {repo}: seq {last}→{seq}")
            else:
                self._order_failure(f"out-of-order event in {repo}: seq {seq} after {last}")
        self.last_seq[repo] = seq if last is None else max(seq, last)

    def _check_version(self, event: SyncEvent) -> None:
        version = event.version
        if version is None:
            return
        task_key = f"{event.repo}/{event.task_id}"
        seen = self.last_version.pop(task_key, None)  # re-inserted last: LRU order
        if seen is not None and version <= seen:
            self._order_failure(f"task {task_key} version {version} after {seen}")
        elif seen is not None and event.seq is None and version > seen + 1:
            self._order_failure(f"missed {version - seen - 1} update(s) of task {task_key}:"
                                f" version {seen}→{version}")  # fmt: skip
        self.last_version[task_key] = max(version, seen or 0)
        if len(self.last_version) > VERSIONS_KEPT:  # bounded memory in long soaks
            del self.last_version[next(iter(self.last_version))]

    def _order_failure(self, problem: str, name: str = "notify order") -> None:
        fire(
            self.environment.events.request,
            "WS",
            name,
            time.perf_counter(),
            exception=CheckFailed(problem),
            response_time_ms=0.0,
        )

    # -- writing -------------------------------------------------------------------

    def _written(self, task: TaskRef, written_at: float) -> TaskRef:
        """Remember when this process wrote ``task``, for services without timestamps."""
        OWN_WRITES[(task.task_id, task.version)] = written_at
        if len(OWN_WRITES) > OWN_WRITES_KEPT:
            del OWN_WRITES[next(iter(OWN_WRITES))]
        self.own_tasks.append(task)
        return task

    def _create(self) -> TaskRef:
        repo, written_at = random.choice(self.all_repos), time.time()
        title = f"task {uuid.uuid4().hex[:8]}"
        created = self.api.create(
            self.client, repo=repo, title=title, client_id=self.client_id, written_at=written_at
        )
        return self._written(created, written_at)

    def _update(self, current: TaskRef) -> TaskRef:
        written_at, title = time.time(), f"edited {uuid.uuid4().hex[:8]}"
        updated = self.api.update(
            self.client, current, title=title, client_id=self.client_id, written_at=written_at
        )
        return self._written(updated, written_at)

    def _own_task(self) -> TaskRef:
        """One of this writer's tasks (latest version known), removed from the list."""
        if not self.own_tasks:
            self._create()
        return self.own_tasks.popleft()

    def keep_alive(self) -> None:
        """A listener's only task: a ping now and then (the pong is read by the receiver)."""
        ping = self.api.ping()
        if self.ws.connected and ping is not None:
            with contextlib.suppress(WebSocketClosed):  # the receiver reconnects
                self.ws.send_json(ping)

    def create_task(self) -> None:
        with contextlib.suppress(CheckFailed):  # already a failed HTTP request
            self._create()

    def update_task(self) -> None:
        with contextlib.suppress(CheckFailed):
            self._update(self._own_task())

    def batch_sync(self) -> None:
        expected = self.api.expected_strategy
        with checked(self.environment.events.request, "SYNC", f"conflict {expected}"):
            stale = self._own_task()
            fresh = self._update(stale)  # the server moves on; our base version is now stale
            result = self.api.batch(
                self.client, stale, client_id=self.client_id, written_at=time.time()
            )
            if not result.found:
                raise CheckFailed(f"sync of stale {stale.task_id} applied instead of conflicting")
            if result.strategy != expected or result.server_version not in (None, fresh.version):
                raise CheckFailed(
                    f"conflict on {stale.task_id}: resolution {result.strategy},"
                    f" server version {result.server_version}, expected {expected} at"
                    f" {fresh.version}"
                )
            if result.applied is not None and result.applied != 1:
                raise CheckFailed(f"sync applied {result.applied} changes, not 1")

    tasks = [keep_alive]  # noqa: RUF012  (Locust sets it per instance in on_start)
    writer_tasks: ClassVar[list[Any]] = [create_task] * 2 + [update_task] * 6
