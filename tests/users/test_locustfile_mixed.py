"""mixed.py: the three user kinds together in one real run."""

from __future__ import annotations


def test_all_three_user_kinds_run_together_without_failures(target, locust) -> None:
    # Default writer share: the sync writers are picked among the sync users
    # alone, so a mixed run with two of them still measures notifications.
    endpoints = (
        "JOB echo",
        "SESSION ready cold",
        "WS connect",
        "WS subscribe",
        "WS notify task.created",
    )
    result = locust.run(
        "mixed.py",
        target.url,
        users=6,
        until=endpoints,
        args=("--job-long-s", "3"),
    )
    for endpoint in endpoints:
        assert result.count(endpoint) > 0, (endpoint, result.explain())
    assert result.total_failures == 0, result.explain()
    assert "WorkspaceUser" in result.output and "SessionBurstUser" in result.output
