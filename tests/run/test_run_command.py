"""`loadkit run` for real: the built-in target, Locust subprocesses, the reporter.

Each run is a few seconds of WorkspaceUser load on 127.0.0.1; the run
directory and report must appear and the exit code must be the verdict's.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from loadkit.errors import EXIT_CHECKS_FAILED, EXIT_INTERRUPTED, EXIT_OK

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240
pytestmark = pytest.mark.slow  # each test is a real run: ~20-40 s with start-up and report

TINY = """\
name: tiny
description: a few seconds of workspace jobs
target: builtin
users: {WorkspaceUser: 1}
stages:
  - {name: steady, duration: DURATION, users: 2, spawn_rate: 2}
checks:
  - count > 5
"""

FAULT = """\
faults:
  - {name: slow-execute, at: 2s, for: 2s, kind: app-latency, via: http, path: /execute,
     latency: 50ms}
"""


def _scenario(tmp_path: Path, *, duration: str = "6s", extra: str = "", name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    text = TINY.replace("DURATION", duration).replace("name: tiny", f"name: {name}")
    path.write_text(textwrap.dedent(text) + extra)
    return path


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "run", *args, "--out", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=ROOT,
    )  # fmt: skip


def _only_run_dir(tmp_path: Path) -> Path:
    run_dirs = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    return run_dirs[0]


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def test_a_tiny_run_writes_a_run_dir_and_a_report_and_passes(tmp_path) -> None:
    proc = _run(tmp_path, str(_scenario(tmp_path, extra=FAULT)))
    assert proc.returncode == EXIT_OK, _explain(proc)
    run_dir = _only_run_dir(tmp_path)
    assert run_dir.name.endswith("-tiny")
    for name in ("run.json", "latency.hlog", "events.jsonl", "report.html", "summary.json"):
        assert (run_dir / name).is_file(), name
    run = json.loads((run_dir / "run.json").read_text())
    assert run["name"] == "tiny" and run["host"].startswith("http://127.0.0.1:")
    assert f"loadkit: report: {run_dir / 'report.html'}" in proc.stdout
    assert "stage 1 'steady': 2 users" in proc.stdout
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert "fault_inject" in kinds and "fault_revert" in kinds, kinds
    assert "loadkit: target stopped" in proc.stdout


def test_an_impossible_check_exits_1_with_a_report(tmp_path) -> None:
    scenario = _scenario(tmp_path, duration="4s")
    scenario.write_text(scenario.read_text().replace("count > 5", "count > 1000000000"))
    proc = _run(tmp_path, str(scenario))
    assert proc.returncode == EXIT_CHECKS_FAILED, _explain(proc)
    assert (_only_run_dir(tmp_path) / "report.html").is_file()


def test_a_running_target_given_by_url_is_used_as_is(tmp_path, target) -> None:
    proc = _run(tmp_path, str(_scenario(tmp_path, duration="4s")), "--target", target.url)
    assert proc.returncode == EXIT_OK, _explain(proc)
    assert "built-in" not in proc.stdout  # no second target was started
    run = json.loads((_only_run_dir(tmp_path) / "run.json").read_text())
    assert run["host"] == target.url
    assert run["totals"]["requests"] > 0


PROXY_FAULT = """\
faults:
  - {name: slow-net, at: 1s, for: 2s, kind: latency, via: proxy, latency: 100ms}
"""


def test_proxy_faults_put_the_fault_proxy_in_front_of_the_builtin_target(tmp_path) -> None:
    proc = _run(tmp_path, str(_scenario(tmp_path, duration="5s", extra=PROXY_FAULT)))
    assert proc.returncode == EXIT_OK, _explain(proc)
    proxy_line = next(line for line in proc.stdout.splitlines() if "fault proxy: " in line)
    proxy_url = proxy_line.split("fault proxy: ")[1].split(" ")[0]
    assert proxy_url.startswith("http://127.0.0.1:")
    run_dir = _only_run_dir(tmp_path)
    assert json.loads((run_dir / "run.json").read_text())["host"] == proxy_url
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    reverts = [e for e in events if e["type"] == "fault_revert" and e["name"] == "slow-net"]
    assert any(e["type"] == "fault_inject" and e["name"] == "slow-net" for e in events)
    assert reverts and reverts[0]["ok"], reverts


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_stops_locust_and_the_target_and_still_reports(tmp_path) -> None:
    scenario = _scenario(tmp_path, duration="120s", extra=FAULT)
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", str(reports)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        run_json = _wait_for(
            lambda: next(iter(reports.glob("*/run.json")), None) if reports.exists() else None,
            120, "the run directory",
        )  # fmt: skip
        run_dir = run_json.parent
        # wait until requests were measured, so there is something to report
        _wait_for(lambda: (run_dir / "latency.hlog").exists() and "Tag=" in
                  (run_dir / "latency.hlog").read_text(), 60, "measurements")  # fmt: skip
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "loadkit run has no child processes"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED, f"{stdout[-2000:]}\n{stderr[-2000:]}"
    assert "SIGTERM: stopping Locust" in stdout
    assert (run_dir / "report.html").is_file()
    run = json.loads(run_json.read_text())
    assert run["stopped_at"] is not None
    # every process loadkit run started (target, Locust) is gone
    _wait_for(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE
                              for c in children), 30, "the children to exit")  # fmt: skip
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    injected = {e["name"] for e in events if e["type"] == "fault_inject"}
    reverted = {e["name"] for e in events if e["type"] == "fault_revert"}
    assert injected <= reverted  # whatever was injected was reverted


def test_workers_and_users_override(tmp_path) -> None:
    proc = _run(
        tmp_path, str(_scenario(tmp_path, duration="60s")),
        "--workers", "1", "--users", "3", "--spawn-rate", "3", "--duration", "5s",
    )  # fmt: skip
    assert proc.returncode == EXIT_OK, _explain(proc)
    run = json.loads((_only_run_dir(tmp_path) / "run.json").read_text())
    assert run["runner"]["mode"] == "master"
    assert run["totals"]["requests"] > 0


def test_web_mode_serves_the_ui_on_loopback_and_swarms_the_scenario_shape(tmp_path) -> None:
    import httpx

    from loadkit.run.locust import free_port

    port = free_port()
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadkit", "run", str(_scenario(tmp_path, duration="120s")),
         "--web", "--web-port", str(port), "--out", str(reports)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def ui_up() -> bool:
        try:
            return httpx.get(base + "/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_for(ui_up, 120, "the web UI")
        answer = httpx.post(base + "/swarm", data={}, timeout=30).json()
        assert answer["success"], answer
        assert "StagesShape" in answer["message"]  # the scenario's shape, not the form's numbers
        run_json = _wait_for(lambda: next(iter(reports.glob("*/run.json")), None), 60, "run.json")
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_INTERRUPTED, f"{stdout[-2000:]}\n{stderr[-2000:]}"
    assert f"web UI: {base}" in stdout
    assert (run_json.parent / "report.html").is_file()
