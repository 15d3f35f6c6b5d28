"""SyncClientUser in real headless Locust runs against the real target, and its checks."""

from __future__ import annotations

import types

from locust_support import clear_faults, read_stats, set_fault, wait_for

WRITERS = (
    "--sync-writer-share",
    "0.5",
    "--sync-write-interval",
    "0.1",
    "--sync-repos",
    "3",
    "--sync-batch-weight",
    "3",
)


def test_notifications_conflicts_and_no_failures_on_a_healthy_target(target, locust) -> None:
    endpoints = (
        "WS connect",
        "WS subscribe",
        "WS notify task.created",
        "WS notify task.updated",
        "POST /repos/[repo]/tasks",
        "PUT /repos/[repo]/tasks/[id]",
        "POST /repos/[repo]/sync",
        "SYNC conflict server_wins",
    )
    result = locust.run("sync.py", target.url, users=6, until=endpoints, args=WRITERS)
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.count("WS connect") == 6 and result.count("WS subscribe") == 6
    assert result.total_failures == 0, result.explain()


def test_app_level_errors_on_writes_show_as_failures(target, locust) -> None:
    set_fault(target.url, path="/repos", error_rate=1.0, status=503)
    try:
        result = locust.run(
            "sync.py", target.url, users=4, until=("POST /repos/[repo]/tasks",), args=WRITERS
        )
    finally:
        clear_faults(target.url)
    assert result.failed("POST /repos/[repo]/tasks") > 0, result.explain()
    assert result.count("WS notify task.created") == 0
    assert result.returncode != 0


def test_clients_reconnect_after_the_gateway_restarts(target, locust) -> None:
    marks: dict[str, int] = {}

    def restart_gateway_mid_run(prefix) -> None:
        def count(endpoint: str) -> int:
            stat = read_stats(prefix).get(endpoint)
            return stat.requests if stat else 0

        wait_for(lambda: count("WS notify task.updated") > 0, 120, "first notifications")
        target.gateway.kill()  # kill -9: every WebSocket drops at once
        target.restart("gateway")  # same port, same data
        wait_for(lambda: count("WS reconnect") >= 4, 120, "all 4 clients to reconnect")
        marks["after_restart"] = count("WS notify task.updated")
        wait_for(
            lambda: count("WS notify task.updated") > marks["after_restart"],
            120,
            "notifications after the reconnects",
        )

    result = locust.run(
        "sync.py",
        target.url,
        users=4,
        run_time="240s",
        until=("WS reconnect",),
        args=(*WRITERS, "--sync-reconnect-base", "0.1", "--sync-reconnect-max", "0.5"),
        during=restart_gateway_mid_run,
    )
    assert result.count("WS reconnect") >= 4, result.explain()
    assert result.failed("WS reconnect") == 0, result.explain()
    assert result.failed("WS closed") > 0  # the drop itself is reported
    assert result.count("WS notify task.updated") > marks["after_restart"], result.explain()


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def fire(self, *, reverse: bool = False, **kwargs) -> None:
        self.events.append(kwargs)


def make_user():
    """A SyncUser without a connection, to feed handle() crafted server messages."""
    from loadkit.users.profile.builtin_sync import BuiltinSync
    from loadkit.users.sync import SyncUser

    user = SyncUser.__new__(SyncUser)
    hook = Recorder()
    user.environment = types.SimpleNamespace(  # no Locust environment needed to check messages
        events=types.SimpleNamespace(request=hook), parsed_options=None
    )
    user.last_seq, user.last_version, user.seen_seq = {}, {}, False
    user.api = BuiltinSync()
    return user, hook


def event(seq: int, version: int, kind: str = "task.updated", written_at: float | None = None):
    meta = {"written_at": written_at} if written_at is not None else {}
    return {
        "type": kind,
        "repo": "r",
        "seq": seq,
        "sent_at": 0.0,
        "task": {"task_id": "t", "version": version, "meta": meta},
    }


def test_missed_out_of_order_and_stale_versions_are_failures() -> None:
    import time

    user, hook = make_user()
    user.handle(event(1, 1, "task.created", written_at=time.time()))
    user.handle(event(2, 2, written_at=time.time()))
    assert [e["name"] for e in hook.events] == ["notify task.created", "notify task.updated"]
    assert all(e["exception"] is None for e in hook.events)
    hook.events.clear()

    user.handle(event(5, 3))  # seq 3 and 4 never arrived
    user.handle(event(4, 2))  # seq back, version back
    user.handle({"type": "error", "error": "bad op", "field": "op"})
    failures = [str(e["exception"]) for e in hook.events]
    assert failures[0] == "missed 2 event(s) in r: seq 2→5"
    assert failures[1] == "out-of-order event in r: seq 4 after 5"
    assert failures[2] == "task r/t version 2 after 3"
    assert failures[3] == "server error: bad op"
    assert len(failures) == 4


def test_writers_are_spread_evenly() -> None:
    from loadkit.users import sync

    assert [sync.is_writer(n, 0.25) for n in range(8)] == [True, False, False, False] * 2
    assert not any(sync.is_writer(n, 0.0) for n in range(8))
    assert all(sync.is_writer(n, 1.0) for n in range(8))
