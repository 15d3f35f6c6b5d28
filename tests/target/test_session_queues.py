"""Session containers and message queues against the real target processes."""

from __future__ import annotations

import itertools
import sqlite3
import time
import uuid

import httpx
import pytest
from test_jobs import wait_until

TERMINAL = {"completed", "failed", "interrupted"}


def new_session(url, user, project):
    body = {"client_id": f"c-{uuid.uuid4().hex[:6]}", "user_id": user, "project": project}
    response = httpx.post(f"{url}/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def send(url, session_id, command):
    response = httpx.post(f"{url}/sessions/{session_id}/messages", json={"command": command})
    assert response.status_code == 202, response.text
    return response.json()


def message(url, session_id, message_id, wait_s=0):
    response = httpx.get(
        f"{url}/sessions/{session_id}/messages/{message_id}",
        params={"wait_s": wait_s},
        timeout=wait_s + 30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def finished(url, session_id, message_id):
    found = wait_until(
        lambda: (m := message(url, session_id, message_id, wait_s=5))["state"] in TERMINAL and m,
        what=f"message {message_id} to finish",
    )
    return found


def test_container_shared_by_user_and_project_only(target):
    url = target.url
    user = f"u-{uuid.uuid4().hex[:6]}"
    first = new_session(url, user, "p1")
    same = new_session(url, user, "p1")
    other_project = new_session(url, user, "p2")
    other_user = new_session(url, f"{user}-b", "p1")
    assert first["container_id"] and first["container_id"] == same["container_id"]
    assert same["warm"] is True and first["warm"] is False
    ids = {first["container_id"], other_project["container_id"], other_user["container_id"]}
    assert len(ids) == 3
    got = httpx.get(f"{url}/sessions/{same['session_id']}").json()
    assert got["container_id"] == first["container_id"]
    # Messages run in the container: a variable set by one session is seen by the other
    # session of the same container, and by nobody else.
    sent = send(url, first["session_id"], "set X=42")
    done = finished(url, first["session_id"], sent["message_id"])
    assert done["state"] == "completed"
    outputs = {}
    for name, session in (("same", same), ("project", other_project), ("user", other_user)):
        sent = send(url, session["session_id"], "get X")
        outputs[name] = finished(url, session["session_id"], sent["message_id"])["output"]
    assert outputs == {"same": "42", "project": "", "user": ""}


def queue_burst(url, session_id, count):
    sent = [send(url, session_id, "lines 2 30") for _ in range(count)]
    return [finished(url, session_id, m["message_id"]) for m in sent]


def test_messages_of_a_session_run_one_at_a_time_in_arrival_order(target_factory):
    target = target_factory(cold_start_ms=5000)
    session = new_session(target.url, "alice", "order")
    done = queue_burst(target.url, session["session_id"], 6)
    ready_at = httpx.get(f"{target.url}/sessions/{session['session_id']}").json()["ready_at"]
    assert all(m["created_at"] < ready_at for m in done)  # all waited in the queue together
    assert [m["seq"] for m in done] == [1, 2, 3, 4, 5, 6]
    assert [m["run_index"] for m in done] == [1, 2, 3, 4, 5, 6]
    assert all(m["state"] == "completed" and m["output"] == "line 1\nline 2\n" for m in done)
    for before, after in itertools.pairwise(done):
        assert after["started_at"] >= before["completed_at"]  # one at a time
    listing = httpx.get(f"{target.url}/sessions/{session['session_id']}/messages").json()
    assert [m["message_id"] for m in listing["messages"]] == [m["message_id"] for m in done]
    assert listing["container_id"] == session["container_id"]


def test_break_session_messages_reordered_runs_newest_first(target_factory):
    target = target_factory(cold_start_ms=5000, break_session_messages_reordered=True)
    session = new_session(target.url, "alice", "reordered")
    done = queue_burst(target.url, session["session_id"], 6)
    ready_at = httpx.get(f"{target.url}/sessions/{session['session_id']}").json()["ready_at"]
    assert all(m["created_at"] < ready_at for m in done)  # all queued before the start
    # All six were queued while the container started: the broken queue runs them backwards.
    assert [m["run_index"] for m in done] == [6, 5, 4, 3, 2, 1]
    assert all(m["state"] == "completed" for m in done)


def test_interrupts_one_after_another_keep_partial_output(target):
    url = target.url
    session = new_session(url, "bob", "interrupts")
    sid = session["session_id"]
    long_ones = [send(url, sid, "lines 1000 50") for _ in range(2)]
    after = send(url, sid, "echo after")
    for sent in long_ones:
        running = wait_until(
            lambda s=sent: (
                (m := message(url, sid, s["message_id"]))["output"].count("\n") >= 3 and m
            ),
            what="some output of the long command",
        )
        assert running["state"] == "processing"
        response = httpx.post(f"{url}/sessions/{sid}/messages/{sent['message_id']}/interrupt")
        assert response.status_code == 200
        stopped = response.json()
        assert stopped["state"] == "interrupted"
        lines = stopped["output"].splitlines()
        assert 3 <= len(lines) < 1000
        assert lines == [f"line {n}" for n in range(1, len(lines) + 1)]
        # Kept: the stored output does not change afterwards.
        time.sleep(0.2)
        assert message(url, sid, sent["message_id"])["output"] == stopped["output"]
    last = finished(url, sid, after["message_id"])
    assert last["state"] == "completed" and last["output"] == "after"
    assert last["run_index"] == 3


def test_interrupting_a_queued_message_skips_it(target):
    url = target.url
    sid = new_session(url, "carol", "skip")["session_id"]
    first = send(url, sid, "lines 3 100")
    queued = send(url, sid, "echo never")
    stopped = httpx.post(f"{url}/sessions/{sid}/messages/{queued['message_id']}/interrupt").json()
    assert stopped["state"] == "interrupted" and stopped["output"] == ""
    assert finished(url, sid, first["message_id"])["state"] == "completed"
    assert message(url, sid, queued["message_id"])["run_index"] is None
    # A finished message is not changed by a late interrupt.
    again = httpx.post(f"{url}/sessions/{sid}/messages/{first['message_id']}/interrupt").json()
    assert again["state"] == "completed" and again["output"] == "line 1\nline 2\nline 3\n"


def test_queued_messages_survive_a_gateway_kill(target):
    url = target.url
    sid = new_session(url, "dave", "restart")["session_id"]
    sent = [send(url, sid, "lines 2 200") for _ in range(5)]
    target.gateway.kill()
    target.restart("gateway")
    done = [finished(url, sid, m["message_id"]) for m in sent]
    assert [m["state"] for m in done] == ["completed"] * 5
    assert [m["run_index"] for m in done] == [1, 2, 3, 4, 5]


def test_session_queue_limit_is_429(target_factory):
    target = target_factory(session_queue_limit=2, cold_start_ms=5000)
    sid = new_session(target.url, "erin", "limit")["session_id"]
    send(target.url, sid, "echo 1")
    send(target.url, sid, "echo 2")
    response = httpx.post(f"{target.url}/sessions/{sid}/messages", json={"command": "echo 3"})
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert response.json()["field"] is None


def test_interrupted_job_keeps_its_partial_output(target):
    url = target.url
    request_id = httpx.post(
        f"{url}/execute", json={"workspace": "partial-ws", "command": "lines 1000 50"}
    ).json()["request_id"]
    wait_until(
        lambda: httpx.get(f"{url}/status/{request_id}").json()["state"] == "processing",
        what="the job to run",
    )
    time.sleep(0.5)
    assert httpx.post(f"{url}/interrupt/{request_id}").json()["state"] == "interrupted"
    # The agent stops it at its next heartbeat and delivers what it printed so far.
    output = wait_until(
        lambda: httpx.get(f"{url}/responses/{request_id}").json()["output"],
        what="the partial output",
    )
    lines = output.splitlines()
    assert 2 <= len(lines) < 1000
    assert lines == [f"line {n}" for n in range(1, len(lines) + 1)]
    status = httpx.get(f"{url}/status/{request_id}").json()
    assert status["state"] == "interrupted"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/sessions/nope/messages", {"command": "echo x"}, 404, "session_id"),
        ("/sessions/{sid}/messages", {"command": "rm -rf /"}, 400, "command"),
        ("/sessions/{sid}/messages", {"command": 5}, 400, "command"),
        ("/sessions/{sid}/messages", {}, 400, "command"),
        ("/sessions/{sid}/messages", {"command": "lines 5"}, 400, "command"),
        ("/sessions/{sid}/messages", {"command": "lines -1 10"}, 400, "command"),
        ("/sessions/{sid}/messages/nope/interrupt", None, 404, "message_id"),
        ("/sessions/nope/messages/nope/interrupt", None, 404, "session_id"),
    ],
)
def test_bad_message_requests_are_json_4xx(shared_target, path, body, status, field):
    sid = new_session(shared_target.url, "frank", "bad")["session_id"]
    url = shared_target.url + path.format(sid=sid)
    response = httpx.post(url, json=body) if body is not None else httpx.post(url)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_bad_message_reads_are_json_4xx(shared_target):
    url = shared_target.url
    sid = new_session(url, "gina", "bad")["session_id"]
    mid = send(url, sid, "echo x")["message_id"]
    for wait in ("-1", "61", "soon", "nan"):
        response = httpx.get(f"{url}/sessions/{sid}/messages/{mid}", params={"wait_s": wait})
        assert response.status_code == 400 and response.json()["field"] == "wait_s"
    response = httpx.get(f"{url}/sessions/nope/messages")
    assert response.status_code == 404 and response.json()["field"] == "session_id"
    response = httpx.get(f"{url}/sessions/{sid}/messages/nope")
    assert response.status_code == 404 and response.json()["field"] == "message_id"


def test_message_to_an_expired_session_is_409(target_factory):
    target = target_factory(cold_start_ms=10, idle_after_s=0.2, expire_after_s=0.2)
    sid = new_session(target.url, "hank", "expired")["session_id"]
    wait_until(
        lambda: httpx.get(f"{target.url}/sessions/{sid}").json()["state"] == "expired",
        what="the session to expire",
    )
    response = httpx.post(f"{target.url}/sessions/{sid}/messages", json={"command": "echo x"})
    assert response.status_code == 409 and response.json()["field"] == "session_id"


def test_timed_out_job_keeps_its_partial_output(target):
    request_id = httpx.post(
        f"{target.url}/execute",
        json={"workspace": "partial-ws", "command": "lines 1000 50", "timeout_ms": 600},
    ).json()["request_id"]
    status = wait_until(
        lambda: (
            (s := httpx.get(f"{target.url}/status/{request_id}").json())["state"] == "timeout" and s
        ),
        what="the timeout",
    )
    assert status["error"] == "timed out after 600 ms"
    lines = httpx.get(f"{target.url}/responses/{request_id}").json()["output"].splitlines()
    assert 2 <= len(lines) < 1000
    assert lines == [f"line {n}" for n in range(1, len(lines) + 1)]


def test_deleting_a_session_stops_and_drops_its_messages(target):
    url = target.url
    sid = new_session(url, "ivan", "delete")["session_id"]
    running = send(url, sid, "lines 1000 50")
    send(url, sid, "echo queued")
    wait_until(
        lambda: message(url, sid, running["message_id"])["state"] == "processing",
        what="the message to run",
    )
    assert httpx.delete(f"{url}/sessions/{sid}").status_code == 200
    gone = httpx.get(f"{url}/sessions/{sid}/messages")
    assert gone.status_code == 404 and gone.json()["field"] == "session_id"
    with sqlite3.connect(target.data_dir / "gateway.db") as db:
        left = db.execute("SELECT COUNT(*) FROM session_messages WHERE session_id = ?", (sid,))
        assert left.fetchone()[0] == 0
