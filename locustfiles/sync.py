"""SyncClientUser: a live-sync client on ``WS /ws``, some of them also writing.

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
  went back, or a task's ``version`` did not increase.
- ``SYNC conflict server_wins``: a batch sync whose stale change came back as
  a ``server_wins`` conflict with the server's newer version (failure if not).

A dropped connection is re-opened with backoff and re-subscribed; the
client fires ``WS reconnect`` (time from drop to subscribed again) and the
seq baseline of each repo restarts, since events sent meanwhile are gone.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import uuid
from collections import deque
from typing import Any, ClassVar

import common
import gevent
from common import CheckFailed
from locust import FastHttpUser, events

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.audit import accepted
from loadkit.users.websocket import Backoff, WebSocketClient, WebSocketClosed, WebSocketTimeout

RECEIVE_TIMEOUT_S = 30.0
OWN_TASKS_KEPT = 20
VERSIONS_KEPT = 2000  # tasks whose last version a client remembers


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = common.WebArguments(parser)
    group.add_argument(
        "--sync-repos",
        type=common.positive_int,
        default=10,
        help="repos shared by all sync clients",
    )
    group.add_argument("--sync-repo-prefix", default="lk-repo", help="repo name prefix")
    group.add_argument(
        "--sync-repos-per-client",
        type=common.positive_int,
        default=2,
        help="repos each client subscribes to",
    )
    group.add_argument(
        "--sync-writer-share",
        type=common.probability,
        default=0.2,
        help="share of clients that also write tasks over HTTP",
    )
    group.add_argument(
        "--sync-write-interval",
        type=common.non_negative_float,
        default=1.0,
        help="seconds between a writer's writes",
    )
    group.add_argument(
        "--sync-batch-weight",
        type=common.non_negative_int,
        default=1,
        help="weight of a writer's batch syncs (creates: 2, updates: 6)",
    )
    group.add_argument(
        "--sync-ping-interval",
        type=common.positive_float,
        default=20.0,
        help="seconds between a listener's keep-alive pings",
    )
    group.add_argument(
        "--sync-reconnect-base",
        type=common.positive_float,
        default=0.2,
        help="first reconnect delay, seconds (doubles per attempt, jittered)",
    )
    group.add_argument(
        "--sync-reconnect-max",
        type=common.positive_float,
        default=5.0,
        help="largest reconnect delay, seconds",
    )


def is_writer(number: int, share: float) -> bool:
    """Spread writers evenly: user 0 writes, then every 1/share-th user."""
    return share > 0 and math.floor(number * share) != math.floor((number - 1) * share)


class SyncClientUser(FastHttpUser):
    """One live-sync client; see the module docstring."""

    abstract = False
    missed = out_of_order = 0  # events this subscriber missed / got out of order: for the audit

    def wait_time(self) -> float:
        if self.writer:
            return float(common.setting(self.environment, "sync_write_interval", 1.0))
        return float(common.setting(self.environment, "sync_ping_interval", 20.0))

    def on_start(self) -> None:
        env = self.environment
        number = common.next_user_number("sync")
        self.client_id = f"lk-{common.PROCESS_TOKEN}-{number}"
        prefix = common.setting(env, "sync_repo_prefix", "lk-repo")
        pool = int(common.setting(env, "sync_repos", 10))
        per_client = min(pool, int(common.setting(env, "sync_repos_per_client", 2)))
        self.all_repos = [f"{prefix}-{i}" for i in range(pool)]
        self.repos = [self.all_repos[(number + k) % pool] for k in range(per_client)]
        self.writer = is_writer(number, float(common.setting(env, "sync_writer_share", 0.2)))
        if self.writer:
            batch_weight = int(common.setting(env, "sync_batch_weight", 1))
            self.tasks = self.writer_tasks + [SyncClientUser.batch_sync] * batch_weight
        self.backoff = Backoff(
            base_s=float(common.setting(env, "sync_reconnect_base", 0.2)),
            max_s=max(
                float(common.setting(env, "sync_reconnect_max", 5.0)),
                float(common.setting(env, "sync_reconnect_base", 0.2)),
            ),
        )
        self.last_seq: dict[str, int] = {}
        self.last_version: dict[str, int] = {}
        self.own_tasks: deque[dict[str, Any]] = deque(maxlen=OWN_TASKS_KEPT)
        self.ws = WebSocketClient(
            common.ws_url(self.host or ""), env.events.request, fire_receive_events=False
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
        accepted(
            self.environment, "sync-subscriber", self.client_id,
            missed=self.missed, out_of_order=self.out_of_order, repos=self.repos,
        )  # fmt: skip

    # -- receiving -----------------------------------------------------------------

    def _subscribe(self, client: WebSocketClient) -> None:
        client.request({"op": "subscribe", "repos": self.repos}, expect_type="subscribed")
        self.last_seq.clear()  # events sent while we were away are gone: new baseline

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
        kind = message.get("type")
        if kind == "error":
            self._order_failure(f"server error: {message.get('error')}", name="server error")
            return
        if kind not in ("task.created", "task.updated"):
            return
        received = time.time()
        repo, seq, body = message.get("repo"), message.get("seq"), message.get("task") or {}
        if not isinstance(repo, str) or not isinstance(seq, int) or not isinstance(body, dict):
            self._order_failure(f"malformed {kind} event: {str(message)[:120]}")
            return
        last = self.last_seq.get(repo)
        if last is not None and seq != last + 1:
            if seq > last + 1:
                self.missed += seq - last - 1
                self._order_failure(f"missed {seq - last - 1} event(s) in {repo}: seq {last}→{seq}")
            else:
                self.out_of_order += 1
                self._order_failure(f"out-of-order event in {repo}: seq {seq} after {last}")
        self.last_seq[repo] = seq if last is None else max(seq, last)
        task_key = f"{repo}/{body.get('task_id')}"
        version = body.get("version")
        if isinstance(version, int):
            seen = self.last_version.pop(task_key, None)  # re-inserted last: LRU order
            if seen is not None and version <= seen:
                self._order_failure(f"task {task_key} version {version} after {seen}")
            self.last_version[task_key] = max(version, seen or 0)
            if len(self.last_version) > VERSIONS_KEPT:  # bounded memory in long soaks
                del self.last_version[next(iter(self.last_version))]
        meta = body.get("meta")
        written_at = meta.get("written_at") if isinstance(meta, dict) else None
        if isinstance(written_at, int | float):
            common.fire(
                self.environment,
                "WS",
                f"notify {kind}",
                0.0,
                response_time_ms=max(0.0, (received - written_at) * 1000.0),
            )

    def _order_failure(self, problem: str, name: str = "notify order") -> None:
        common.fire(
            self.environment,
            "WS",
            name,
            time.perf_counter(),
            exception=CheckFailed(problem),
            response_time_ms=0.0,
        )

    # -- writing -------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        return {"written_at": time.time(), "by": self.client_id}

    def _http(self, method: str, path: str, name: str, expect: int, body: Any) -> dict[str, Any]:
        with self.client.request(method, path, name=name, json=body, catch_response=True) as resp:
            if resp.status_code != expect:
                detail = (resp.text or str(resp.error or ""))[:160].replace("\n", " ")
                message = f"{method} {path}: HTTP {resp.status_code}, expected {expect}: {detail}"
                resp.failure(message)
                raise CheckFailed(message)
            resp.success()
            try:
                data = resp.json()
            except ValueError:
                resp.failure(f"{method} {path}: the answer is not JSON")
                raise CheckFailed(f"{method} {path}: the answer is not JSON") from None
            return data if isinstance(data, dict) else {}

    def _create(self) -> dict[str, Any]:
        repo = random.choice(self.all_repos)
        body = {
            "title": f"task {uuid.uuid4().hex[:8]}",
            "client_id": self.client_id,
            "meta": self._meta(),
        }
        created = self._http("POST", f"/repos/{repo}/tasks", "/repos/[repo]/tasks", 201, body)
        accepted(
            self.environment,
            "sync",
            created.get("task_id"),
            repo=repo,
            version=created.get("version"),
        )
        self.own_tasks.append(created)
        return created

    def _update(self, current: dict[str, Any]) -> dict[str, Any]:
        repo, task_id = current["repo"], current["task_id"]
        body = {
            "title": f"edited {uuid.uuid4().hex[:8]}",
            "base_version": current["version"],
            "client_id": self.client_id,
            "meta": self._meta(),
        }
        updated = self._http(
            "PUT", f"/repos/{repo}/tasks/{task_id}", "/repos/[repo]/tasks/[id]", 200, body
        )
        accepted(self.environment, "sync", task_id, repo=repo, version=updated.get("version"))
        self.own_tasks.append(updated)
        return updated

    def _own_task(self) -> dict[str, Any]:
        """One of this writer's tasks (latest version known), removed from the list."""
        if not self.own_tasks:
            self._create()
        return self.own_tasks.popleft()

    def keep_alive(self) -> None:
        """A listener's only task: a ping now and then (the pong is read by the receiver)."""
        if self.ws.connected:
            with contextlib.suppress(WebSocketClosed):  # the receiver reconnects
                self.ws.send_json({"op": "ping"})

    def create_task(self) -> None:
        with contextlib.suppress(CheckFailed):  # already a failed HTTP request
            self._create()

    def update_task(self) -> None:
        with contextlib.suppress(CheckFailed):
            self._update(self._own_task())

    def batch_sync(self) -> None:
        with common.checked(self.environment, "SYNC", "conflict server_wins"):
            stale = self._own_task()
            fresh = self._update(stale)  # the server moves on; our base_version is now stale
            repo = stale["repo"]
            body = {
                "client_id": self.client_id,
                "changes": [
                    {
                        "task_id": stale["task_id"],
                        "base_version": stale["version"],
                        "title": "offline edit",
                        "meta": self._meta(),
                    },
                    {"title": f"new offline {uuid.uuid4().hex[:8]}", "meta": self._meta()},
                ],
            }
            result = self._http("POST", f"/repos/{repo}/sync", "/repos/[repo]/sync", 200, body)
            conflicts = {c.get("task_id"): c for c in result.get("conflicts") or []}
            conflict = conflicts.get(stale["task_id"])
            if conflict is None:
                raise CheckFailed(
                    f"sync of stale {stale['task_id']} applied instead of conflicting"
                )
            server = conflict.get("server") or {}
            if (
                conflict.get("resolution") != "server_wins"
                or server.get("version") != fresh["version"]
            ):
                raise CheckFailed(
                    f"conflict on {stale['task_id']}: resolution {conflict.get('resolution')},"
                    f" server version {server.get('version')}, expected server_wins at"
                    f" {fresh['version']}"
                )
            if len(result.get("applied") or []) != 1:
                raise CheckFailed(f"sync applied {len(result.get('applied') or [])} changes, not 1")

    tasks: ClassVar[list[Any]] = [keep_alive]
    writer_tasks: ClassVar[list[Any]] = [create_task] * 2 + [update_task] * 6
