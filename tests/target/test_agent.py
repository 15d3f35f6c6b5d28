"""Agent and gateway crashes against the real processes: kill -9, SIGSTOP, restarts."""

from __future__ import annotations

import signal

import httpx
from test_jobs import submit, wait_terminal, wait_until

from loadkit.target.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, backoff_delay


def states(url, ids):
    return {i: httpx.get(f"{url}/status/{i}").json()["state"] for i in ids}


def agent_health(target):
    try:
        return httpx.get(f"{target.agent_url}/health", timeout=5).json()
    except httpx.HTTPError:
        return {}


def outbox_files(target):
    return sorted(p.name for p in (target.data_dir / "outbox").glob("*.json"))


def test_kill_9_agent_mid_job_then_every_job_finishes(target):
    url = target.url
    ids = [submit(url, "crash-ws", "sleep 5") for _ in range(6)]
    ids += [submit(url, "crash-ws", f"echo after {n}") for n in range(4)]
    snapshot = wait_until(
        lambda: "processing" in (found := states(url, ids)).values() and found,
        what="a job in progress",
    )
    target.agent.kill()
    held = [i for i, s in snapshot.items() if s == "processing" and i in ids[:6]]
    target.restart("agent")
    finished = [wait_terminal(url, i, timeout=120) for i in ids]
    assert {s["state"] for s in finished} == {"completed"}
    requeued = [s for s in finished if s["request_id"] in held]
    # Jobs the dead agent held were leased again (after the lease expired) and run again.
    assert requeued and all(s["claims"] >= 2 for s in requeued)
    outputs = [httpx.get(f"{url}/responses/{i}").json()["output"] for i in ids[6:]]
    assert outputs == [f"after {n}" for n in range(4)]


def test_graceful_agent_restart_gives_jobs_back_at_once(target_factory):
    """SIGTERM: the agent releases its jobs, so nothing waits for the (10 min) lease."""
    target = target_factory(lease_s=600.0)
    url = target.url
    ids = [submit(url, "release-ws", "sleep 30") for _ in range(2)]
    wait_until(lambda: set(states(url, ids).values()) == {"processing"}, what="jobs claimed")
    target.agent.stop()
    assert set(states(url, ids).values()) == {"queued"}
    target.restart("agent")
    wait_until(lambda: set(states(url, ids).values()) == {"processing"}, what="jobs reclaimed")
    for request_id in ids:
        assert httpx.post(f"{url}/interrupt/{request_id}").json()["state"] == "interrupted"


def test_gateway_paused_results_wait_on_disk_and_arrive_once(target):
    url = target.url
    ids = [submit(url, "pause-ws", f"echo paused {n}") for n in range(2)]
    ids += [submit(url, "pause-ws", "sleep 1.5") for _ in range(2)]
    wait_until(
        lambda: list(states(url, ids[2:]).values()) == ["processing"] * 2,
        what="the sleeps to be claimed",
    )
    target.gateway.signal(signal.SIGSTOP)
    try:
        health = wait_until(
            lambda: (
                (h := agent_health(target)).get("outbox", 0) >= 2
                and h["circuit_breakers"]["gateway_callback"] != CLOSED
                and h
            ),
            timeout=90,
            what="results in the outbox and the breaker open",
        )
        assert health["breaker_opened"] >= 1
        assert len(outbox_files(target)) >= 2  # really on disk
    finally:
        target.gateway.signal(signal.SIGCONT)
    finished = [wait_terminal(url, i, timeout=120) for i in ids]
    assert {s["state"] for s in finished} == {"completed"}
    for status in finished:
        assert status["callback"]["success"] is True
    # The results that waited were retried (more than one attempt) and applied once.
    assert max(s["callback"]["attempts"] for s in finished) >= 2
    outputs = [httpx.get(f"{url}/responses/{i}").json()["output"] for i in ids[:2]]
    assert outputs == ["paused 0", "paused 1"]
    wait_until(lambda: agent_health(target).get("outbox") == 0, what="the outbox to drain")
    wait_until(
        lambda: agent_health(target)["circuit_breakers"]["gateway_callback"] == CLOSED,
        what="the breaker to close",
    )
    assert outbox_files(target) == []


def test_results_survive_gateway_kill_and_agent_kill(target):
    """Gateway dies, results go to disk, the agent dies too; both restart; nothing is lost."""
    url = target.url
    ids = [submit(url, "both-ws", "sleep 4") for _ in range(3)]
    wait_until(lambda: set(states(url, ids).values()) == {"processing"}, what="all jobs claimed")
    target.gateway.kill()
    wait_until(
        lambda: (h := agent_health(target)).get("running") == 0 and h.get("outbox", 0) >= 1,
        timeout=90,
        what="the jobs to finish with their results on disk",
    )
    waiting = [name.removesuffix(".json") for name in outbox_files(target)]
    assert waiting and set(waiting) <= set(ids)
    health = agent_health(target)
    assert health["circuit_breakers"]["gateway_callback"] in (OPEN, HALF_OPEN)
    target.agent.kill()
    target.restart("gateway")
    target.restart("agent")
    finished = [wait_terminal(url, i, timeout=120) for i in ids]
    assert {s["state"] for s in finished} == {"completed"}
    # Delivered from disk by the new agent: more than one attempt, applied once.
    for status in finished:
        if status["request_id"] in waiting:
            assert status["callback"]["success"] is True and status["claims"] == 1
    wait_until(lambda: outbox_files(target) == [], what="the outbox to drain")
    gateway_health = httpx.get(f"{url}/health").json()
    assert gateway_health["queue_depth"] == 0 and gateway_health["processing"] == 0


def test_kill_9_gateway_keeps_every_accepted_job(target):
    url = target.url
    ids = [submit(url, "keep-ws", f"echo kept {n}") for n in range(30)]
    target.gateway.kill()
    target.restart("gateway")
    for i in ids:
        assert httpx.get(f"{url}/status/{i}").status_code == 200
    finished = [wait_terminal(url, i, timeout=120) for i in ids]
    assert {s["state"] for s in finished} == {"completed"}
    outputs = [httpx.get(f"{url}/responses/{i}").json()["output"] for i in ids]
    assert outputs == [f"kept {n}" for n in range(30)]


def test_gateway_health_reports_agent_and_breakers(target):
    health = wait_until(
        lambda: (h := httpx.get(f"{target.url}/health").json())["agent"] is not None and h,
        what="a heartbeat",
    )
    assert health["status"] == "healthy" and health["reasons"] == []
    assert health["circuit_breakers"] == {"gateway_callback": "closed"}
    assert health["agent"]["pid"] == target.agent.pid
    assert health["agent"]["reachable"] is True
    target.agent.kill()
    unhealthy = wait_until(
        lambda: (h := httpx.get(f"{target.url}/health").json())["status"] == "unhealthy" and h,
        what="the stale heartbeat to show",
    )
    assert unhealthy["agent"]["stale"] is True and unhealthy["agent"]["reachable"] is False
    assert "heartbeat" in unhealthy["reasons"][0]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_breaker_opens_half_opens_and_closes():
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, open_s=2.0, clock=clock)
    assert breaker.state == CLOSED and breaker.allow()
    breaker.failure()
    breaker.failure()
    assert breaker.state == CLOSED
    breaker.failure()
    assert breaker.state == OPEN and not breaker.allow()
    clock.now = 2.5
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == OPEN and breaker.opened_count == 2
    clock.now = 5.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow()


def test_backoff_doubles_and_is_capped():
    delays = [backoff_delay(n, 0.1, 1.0, jitter=0) for n in range(1, 7)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    jittered = backoff_delay(3, 0.1, 1.0, jitter=0.5)
    assert 0.2 <= jittered <= 0.4
