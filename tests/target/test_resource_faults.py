"""Resource faults (store unavailable, disk full) and the health rule, on the real target."""

from __future__ import annotations

import time

import httpx
from test_jobs import run_job, submit, wait_terminal, wait_until


def health(target):
    return httpx.get(f"{target.url}/health", timeout=10).json()


def wait_health(target, status, what):
    return wait_until(lambda: (h := health(target))["status"] == status and h, what=what)


def test_store_unavailable_answers_503_then_reconnects(target):
    url = target.url
    wait_health(target, "healthy", "a healthy start")
    sid = httpx.post(
        f"{url}/sessions", json={"client_id": "c", "user_id": "u", "project": "p"}
    ).json()["session_id"]
    added = httpx.post(f"{url}/admin/faults", json={"store": "unavailable", "for_s": 3})
    assert added.status_code == 200
    assert added.json()["store"]["store"] == "unavailable"
    refused = [
        httpx.post(f"{url}/execute", json={"workspace": "w", "command": "echo x"}),
        httpx.get(f"{url}/sessions/{sid}"),
        httpx.post(f"{url}/repos/r/tasks", json={"title": "t"}),
        httpx.get(f"{url}/repos/r/tasks"),
    ]
    for response in refused:
        assert response.status_code == 503, response.text
        assert response.json()["field"] is None
        assert "data store is unavailable" in response.json()["error"]
        assert response.headers["retry-after"] == "1"
    during = health(target)
    assert during["status"] == "unhealthy" and during["store"]["status"] == "unavailable"
    assert during["queue_depth"] is None
    assert any("data store" in reason for reason in during["reasons"])
    # The fault ends by itself; the next queries reconnect and everything works again.
    wait_until(lambda: health(target)["store"]["status"] == "ok", what="the fault to expire")
    status, response = run_job(url, "after-store", "echo back")
    assert status["state"] == "completed" and response["output"] == "back"
    assert httpx.get(f"{url}/sessions/{sid}").status_code == 200
    after = wait_health(target, "healthy", "health back after the store returns")
    assert after["store"] == {"status": "ok", "reconnects": after["store"]["reconnects"]}
    assert after["store"]["reconnects"] >= 2  # jobs and sessions each reopened a connection
    log = (target.data_dir / "logs" / "gateway.log").read_text(errors="replace")
    assert "Traceback" not in log.split("automatic cleanup failed")[0]


def test_disk_full_sends_responses_to_the_fallback_folder(target):
    url = target.url
    _, before = run_job(url, "disk-ws", "echo primary")
    httpx.post(f"{url}/admin/faults", json={"disk": "full"}).raise_for_status()
    text = 'fallback ünïcødé "quoted"\nline two'
    status, response = run_job(url, "disk-ws", f"echo {text}")
    assert response["output"] == text
    assert status["response_location"] == "fallback"
    files = list((target.data_dir / "fallback").glob("*.json"))
    assert [f.stem for f in files] == [status["request_id"]]
    during = health(target)
    assert during["disk"] == {"status": "full", "fallback_responses": 1}
    assert during["status"] == "degraded"
    listing = httpx.get(f"{url}/admin/faults").json()
    assert listing["disk"]["disk"] == "full" and listing["disk"]["hits"] == 1
    cleared = httpx.delete(f"{url}/admin/faults").json()
    assert cleared["cleared"] == 1 and cleared["disk"] is None
    status_after, _ = run_job(url, "disk-ws", "echo primary again")
    assert status_after["response_location"] == "primary"
    before_status = httpx.get(f"{url}/status/{before['request_id']}").json()
    assert before_status["response_location"] == "primary"
    wait_health(target, "healthy", "health back after the disk fault")
    # Cleanup removes responses wherever they are.
    time.sleep(0.05)
    deleted = httpx.post(f"{url}/cleanup/run", json={"ttl_s": 0}).json()["deleted"]
    assert deleted == 3
    assert list((target.data_dir / "fallback").glob("*.json")) == []
    gone = httpx.get(f"{url}/responses/{status['request_id']}")
    assert gone.status_code == 404 and "cleanup" in gone.json()["error"]


def test_health_follows_the_breaker_healthy_unhealthy_healthy(target):
    url = target.url
    seen = [wait_health(target, "healthy", "a healthy start")["status"]]
    httpx.post(f"{url}/admin/faults", json={"error_rate": 1.0}).raise_for_status()
    submit_ok = httpx.post(f"{url}/execute", json={"workspace": "w", "command": "echo x"})
    assert submit_ok.status_code == 503  # the global fault covers the public API too
    down = wait_health(target, "unhealthy", "the breaker to open")
    seen.append(down["status"])
    assert down["circuit_breakers"]["gateway_callback"] in ("open", "half_open")
    assert any("gateway_callback" in reason for reason in down["reasons"])
    httpx.delete(f"{url}/admin/faults").raise_for_status()
    up = wait_health(target, "healthy", "the breaker to close")
    seen.append(up["status"])
    assert up["circuit_breakers"] == {"gateway_callback": "closed"}
    assert seen == ["healthy", "unhealthy", "healthy"]
    request_id = submit(url, "w", "echo after")
    assert wait_terminal(url, request_id)["state"] == "completed"


def test_sync_limits_are_options(target_factory):
    target = target_factory(sync_max_changes=5, sync_max_body_bytes=2000)
    url = target.url
    changes = [{"title": f"t{n}"} for n in range(6)]
    too_many = httpx.post(f"{url}/repos/lim/sync", json={"changes": changes})
    assert too_many.status_code == 400 and too_many.json()["field"] == "changes"
    assert "sync_max_changes" in too_many.json()["error"]
    fine = httpx.post(f"{url}/repos/lim/sync", json={"changes": changes[:5]})
    assert fine.status_code == 200 and len(fine.json()["applied"]) == 5
    big = {"title": "x" * 900, "meta": {"pad": "y" * 1500}}
    for response in (
        httpx.post(f"{url}/repos/lim/tasks", json=big),
        httpx.post(f"{url}/repos/lim/sync", json={"changes": [big]}),
        httpx.put(f"{url}/repos/lim/tasks/{fine.json()['applied'][0]['task_id']}", json=big),
    ):
        assert response.status_code == 413, response.text
        assert response.json()["field"] == "body"
        assert "sync_max_body_bytes" in response.json()["error"]
    # Other endpoints keep max_body_bytes.
    small_enough = {"workspace": "w", "command": "echo " + "z" * 3000}
    assert httpx.post(f"{url}/execute", json=small_enough).status_code == 202
