"""Custom arguments from the web UI are checked like the command line (real Locust web UI)."""

from __future__ import annotations

from pathlib import Path

import httpx
from locust_support import free_port, wait_for

from loadkit.users.webui import bad_web_value


def test_the_check_names_the_option_and_the_problem() -> None:
    from locust.argument_parser import get_parser

    import loadkit.users.jobs
    import loadkit.users.sessions  # noqa: F401  (their options register their checks...)

    get_parser()  # ...when Locust builds its parser

    assert bad_web_value({"job_tasks": "echo:2", "session_mode": "burst"}) is None
    problem = bad_web_value({"job_tasks": "nope:1"})
    assert problem is not None and problem.startswith("--job-tasks: 'nope:1' is not")
    assert bad_web_value({"session_mode": "sometimes"}) == (
        "--session-mode: 'sometimes' is not one of burst, sustained"
    )
    assert "\n" not in (bad_web_value({"job_poll_interval": "-1"}) or "\n")


def test_a_bad_value_refuses_that_start_in_the_ui_and_the_log(target, locust, tmp_path) -> None:
    port = free_port()
    log = tmp_path / "webui.log"
    proc = locust.start(
        "workspace.py",
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
        "--host",
        target.url,
        log=log,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 120, "the web UI")
    form = {"user_count": "1", "spawn_rate": "1", "host": target.url, "job_wait": "0"}
    bad = httpx.post(f"{base}/swarm", data={**form, "job_tasks": "nope:1"}, timeout=10).json()
    assert bad["success"] is False
    assert bad["message"].startswith("--job-tasks: 'nope:1' is not"), bad
    stats = httpx.get(f"{base}/stats/requests", timeout=10).json()
    assert stats["state"] == "ready", stats  # nothing started
    wait_for(lambda: "refused to start: --job-tasks" in log.read_text(), 30, "the log line")

    bad = httpx.post(f"{base}/swarm", data={**form, "user_profile": "nosuch"}, timeout=10).json()
    assert bad["success"] is False and "no profile named 'nosuch'" in bad["message"], bad

    good = httpx.post(f"{base}/swarm", data={**form, "job_tasks": "echo:1"}, timeout=10).json()
    assert good["success"] is True, good

    def echoed() -> bool:
        rows = httpx.get(f"{base}/stats/requests", timeout=10).json()["stats"]
        return any(r["name"] == "echo" and r["num_requests"] > 0 for r in rows)

    wait_for(echoed, 120, "a JOB echo after the good start")
    rows = httpx.get(f"{base}/stats/requests", timeout=10).json()["stats"]
    assert sum(r["num_failures"] for r in rows if r["name"] != "Aggregated") == 0, rows
    assert "Traceback" not in Path(log).read_text()
