"""SessionUser (through the example SessionBurstUser) in real headless Locust runs on the target."""

from __future__ import annotations

from locust_support import clear_faults, set_fault

SHORT_IDLE = {"idle_after_s": 1.0, "expire_after_s": 1.0}


def test_bursts_warm_starts_and_expiry_pass_on_a_healthy_target(target_factory, locust):
    target = target_factory(**SHORT_IDLE)
    endpoints = (
        "POST /sessions",
        "GET /sessions/[id]",
        "DELETE /sessions/[id]",
        "POST /sessions/[id]/activity",
        "SESSION ready cold",
        "SESSION ready warm",
        "SESSION expiry",
    )
    result = locust.run(
        "sessions.py",
        target.url,
        users=4,
        until=endpoints,
        args=(
            "--session-burst-size",
            "3",
            "--session-expiry-deadline",
            "15",
            "--session-wait",
            "0.1",
        ),
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()
    # the target's cold start is 800 ms and its warm start 50 ms
    assert result.stats["SESSION ready cold"].min_ms >= 800, result.explain()
    assert result.stats["SESSION ready warm"].min_ms < result.stats["SESSION ready cold"].min_ms


def test_sustained_mode_starts_activations_at_a_rate(target, locust) -> None:
    result = locust.run(
        "sessions.py",
        target.url,
        users=2,
        until=("ITER session activation",),
        args=("--session-mode", "sustained", "--session-rate", "4"),
    )
    assert result.count("ITER session activation") > 0, result.explain()
    assert result.count("SESSION ready cold") > 0, result.explain()
    assert result.total_failures == 0, result.explain()


def test_a_session_not_ready_by_the_deadline_is_a_failure(target, locust) -> None:
    result = locust.run(
        "sessions.py",
        target.url,
        users=2,
        until=("SESSION ready cold",),
        args=("--session-ready-deadline", "0.2", "--session-burst-size", "2"),
    )
    assert result.failed("SESSION ready cold") > 0, result.explain()
    assert any("not ready after 0.2s" in f["Error"] for f in result.failures), result.explain()


def test_app_level_errors_on_sessions_show_as_failures(target, locust) -> None:
    set_fault(target.url, path="/sessions", error_rate=0.5, status=500)
    try:
        result = locust.run("sessions.py", target.url, users=2, run_time="5s")
    finally:
        clear_faults(target.url)
    assert result.failed("POST /sessions") + result.failed("GET /sessions/[id]") > 0
    assert any("HTTP 500" in f["Error"] for f in result.failures), result.explain()
    assert result.returncode != 0
