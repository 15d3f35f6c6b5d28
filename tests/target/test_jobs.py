"""Job endpoints against the real gateway + agent processes."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
import pytest

from loadkit.target.commands import deterministic_bytes

TERMINAL = {"completed", "failed", "timeout", "interrupted"}


def wait_until(predicate, timeout=60.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def submit(url, workspace, command, **extra):
    response = httpx.post(
        f"{url}/execute", json={"workspace": workspace, "command": command, **extra}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "queued" and body["workspace"] == workspace
    return body["request_id"]


def wait_terminal(url, request_id, timeout=60.0):
    def done():
        status = httpx.get(f"{url}/status/{request_id}").json()
        return status if status["state"] in TERMINAL else None

    return wait_until(done, timeout, what=f"job {request_id} to finish")


def run_job(url, workspace, command, **extra):
    request_id = submit(url, workspace, command, **extra)
    status = wait_terminal(url, request_id)
    response = httpx.get(f"{url}/responses/{request_id}", timeout=60)
    assert response.status_code == 200, response.text
    return status, response.json()


@pytest.mark.parametrize(
    "text",
    [
        "quotes \" and ' and backslash \\ and \\n literal",
        "line one\nline two\r\n\ttabbed",
        "non-ASCII: héllo wörld 日本語 🚀 \u00a0",
        "  leading and trailing spaces  ",
        'json-ish {"a": [1, 2]} </script>',
        "nul \x00 inside",
    ],
)
def test_echo_output_is_kept_intact_and_valid_json(shared_target, text):
    status, body = run_job(shared_target.url, "echo-ws", f"echo {text}")
    assert status["state"] == "completed"
    assert body["output"] == text
    assert body["error"] is None


def test_status_has_the_contract_fields(shared_target):
    status, _ = run_job(shared_target.url, "fields-ws", "echo hi")
    for key in (
        "request_id",
        "workspace",
        "command",
        "state",
        "created_at",
        "queued_at",
        "processing_at",
        "completed_at",
        "error",
        "callback",
    ):
        assert key in status, key
    assert status["created_at"] <= status["queued_at"] <= status["processing_at"]
    assert status["processing_at"] <= status["completed_at"]
    assert status["callback"] == {"attempts": 1, "success": True}


def test_bytes_15_megabytes_round_trip_intact(shared_target):
    count = 15_000_000
    status, body = run_job(shared_target.url, "bytes-ws", f"bytes {count}")
    assert status["state"] == "completed"
    data = base64.b64decode(body["output"], validate=True)
    assert len(data) == count
    expected = hashlib.sha256(deterministic_bytes(count)).hexdigest()
    assert hashlib.sha256(data).hexdigest() == expected


def test_deterministic_bytes_is_pure_and_prefix_stable():
    assert deterministic_bytes(0) == b""
    assert deterministic_bytes(1000) == deterministic_bytes(1000)
    assert deterministic_bytes(5000)[:1000] == deterministic_bytes(1000)
    assert len(set(deterministic_bytes(4096))) > 200  # not a constant pattern


def test_workspace_isolation(shared_target):
    url = shared_target.url
    assert run_job(url, "iso-a", "set X=1")[0]["state"] == "completed"
    assert run_job(url, "iso-a", "get X")[1]["output"] == "1"
    assert run_job(url, "iso-b", "get X")[1]["output"] == ""
    assert run_job(url, "iso-b", "set X=two words = ok")[0]["state"] == "completed"
    assert run_job(url, "iso-b", "get X")[1]["output"] == "two words = ok"
    assert run_job(url, "iso-a", "get X")[1]["output"] == "1"


def test_fail_gives_failed_with_the_message(shared_target):
    status, body = run_job(shared_target.url, "fail-ws", "fail disk on fire")
    assert status["state"] == "failed" and status["error"] == "disk on fire"
    assert body["state"] == "failed" and body["error"] == "disk on fire"


def test_cpu_command_completes(shared_target):
    status, body = run_job(shared_target.url, "cpu-ws", "cpu 50")
    assert status["state"] == "completed" and body["output"] == ""


def test_interrupt_stops_a_long_sleep(target):
    request_id = submit(target.url, "int-ws", "sleep 60")
    wait_until(
        lambda: httpx.get(f"{target.url}/status/{request_id}").json()["state"] == "processing",
        what="the job to be claimed",
    )
    answer = httpx.post(f"{target.url}/interrupt/{request_id}")
    assert answer.status_code == 200
    assert answer.json() == {"request_id": request_id, "state": "interrupted"}
    assert httpx.get(f"{target.url}/status/{request_id}").json()["state"] == "interrupted"
    # The agent really stops running it (long before the 60 s sleep would end).
    wait_until(
        lambda: httpx.get(f"{target.agent_url}/health").json()["running"] == 0,
        timeout=30,
        what="the agent to stop the job",
    )
    body = httpx.get(f"{target.url}/responses/{request_id}").json()
    assert body["state"] == "interrupted"
    # A second interrupt is harmless and reports the terminal state.
    assert httpx.post(f"{target.url}/interrupt/{request_id}").json()["state"] == "interrupted"


def test_interrupt_of_a_queued_job(target):
    target.agent.kill()
    request_id = submit(target.url, "int-ws", "echo never")
    assert httpx.post(f"{target.url}/interrupt/{request_id}").json()["state"] == "interrupted"
    target.restart("agent")
    time.sleep(0.5)
    assert httpx.get(f"{target.url}/status/{request_id}").json()["state"] == "interrupted"


def test_timeout_ms_gives_timeout(shared_target):
    status, body = run_job(shared_target.url, "timeout-ws", "sleep 60", timeout_ms=300)
    assert status["state"] == "timeout" and body["state"] == "timeout"
    assert "300 ms" in status["error"]


def test_unknown_ids_are_404_and_unfinished_responses_409(target):
    for path in ("/status/nope", "/responses/nope"):
        response = httpx.get(f"{target.url}{path}")
        assert response.status_code == 404 and response.json()["error"]
    assert httpx.post(f"{target.url}/interrupt/nope").status_code == 404
    target.agent.kill()
    request_id = submit(target.url, "q-ws", "echo later")
    response = httpx.get(f"{target.url}/responses/{request_id}")
    assert response.status_code == 409 and "queued" in response.json()["error"]


def test_queue_limit_gives_429_with_retry_after(target_factory):
    target = target_factory(queue_limit=3)
    target.agent.kill()  # nothing drains the queue
    for _ in range(3):
        submit(target.url, "full-ws", "echo x")
    response = httpx.post(
        f"{target.url}/execute", json={"workspace": "full-ws", "command": "echo x"}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "queue is full" in response.json()["error"]
    assert httpx.get(f"{target.url}/health").json()["queue_depth"] == 3
    target.restart("agent")
    wait_until(
        lambda: httpx.get(f"{target.url}/health").json()["queue_depth"] == 0,
        what="the queue to drain",
    )
    submit(target.url, "full-ws", "echo accepted again")


def test_cleanup_deletes_only_responses_older_than_ttl(target):
    old_status, _ = run_job(target.url, "clean-ws", "echo old")
    wait_until(lambda: time.time() > old_status["completed_at"] + 1.0, what="time to pass")
    new_status, _ = run_job(target.url, "clean-ws", "echo new")
    ttl = time.time() - (old_status["completed_at"] + new_status["completed_at"]) / 2
    answer = httpx.post(f"{target.url}/cleanup/run", json={"ttl_s": ttl})
    assert answer.status_code == 200 and answer.json()["deleted"] == 1
    # the horizon it used, on the gateway's clock: between the two completions
    horizon = answer.json()["completed_before"]
    assert old_status["completed_at"] < horizon <= new_status["completed_at"]
    old = httpx.get(f"{target.url}/responses/{old_status['request_id']}")
    assert old.status_code == 404 and "cleanup" in old.json()["error"]
    new = httpx.get(f"{target.url}/responses/{new_status['request_id']}")
    assert new.status_code == 200 and new.json()["output"] == "new"
    # The job itself is still known.
    assert httpx.get(f"{target.url}/status/{old_status['request_id']}").status_code == 200
    # Without a body the configured TTL (an hour) applies: nothing that recent goes.
    assert httpx.post(f"{target.url}/cleanup/run").json()["deleted"] == 0


def test_cleanup_of_one_workspace_leaves_the_others(target):
    mine, _ = run_job(target.url, "clean-mine", "echo mine")
    theirs, _ = run_job(target.url, "clean-theirs", "echo theirs")
    answer = httpx.post(f"{target.url}/cleanup/run", json={"ttl_s": 0, "workspace": "clean-mine"})
    assert answer.status_code == 200 and answer.json()["deleted"] == 1
    assert httpx.get(f"{target.url}/responses/{mine['request_id']}").status_code == 404
    kept = httpx.get(f"{target.url}/responses/{theirs['request_id']}")
    assert kept.status_code == 200 and kept.json()["output"] == "theirs"
    for bad in ("", ".hidden", "a/b", 7):
        refused = httpx.post(f"{target.url}/cleanup/run", json={"workspace": bad})
        assert refused.status_code == 400 and refused.json()["field"] == "workspace", bad


def test_a_result_is_applied_once_even_if_delivered_twice(target):
    target.agent.kill()
    request_id = submit(target.url, "dup-ws", "echo real")
    claimed = httpx.post(f"{target.url}/internal/claim", json={"agent_id": "t", "max": 1}).json()
    assert [job["request_id"] for job in claimed["jobs"]] == [request_id]
    first = {"state": "completed", "output": "first", "error": None, "attempts": 1}
    second = {"state": "failed", "output": "second", "error": "dup", "attempts": 2}
    one = httpx.post(f"{target.url}/internal/results/{request_id}", json=first)
    two = httpx.post(f"{target.url}/internal/results/{request_id}", json=second)
    assert one.json()["applied"] is True and two.json()["applied"] is False
    status = httpx.get(f"{target.url}/status/{request_id}").json()
    assert status["state"] == "completed" and status["error"] is None
    assert status["callback"] == {"attempts": 2, "success": True}
    assert httpx.get(f"{target.url}/responses/{request_id}").json()["output"] == "first"


def test_automatic_cleanup_uses_the_configured_ttl(target_factory):
    target = target_factory(cleanup_interval_s=0.2, response_ttl_s=1.0)
    status, body = run_job(target.url, "auto-clean-ws", "echo short-lived")
    assert body["output"] == "short-lived"
    wait_until(
        lambda: httpx.get(f"{target.url}/responses/{status['request_id']}").status_code == 404,
        timeout=60,
        what="the automatic cleanup",
    )
    assert httpx.get(f"{target.url}/status/{status['request_id']}").status_code == 200
