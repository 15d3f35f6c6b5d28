"""The loss audit in real runs against the built-in target: kill -9 of the agent loses
nothing; a job deleted behind loadkit's back is exactly the one reported lost; an
audit that cannot reach the service says "not audited", never "0 lost"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOADKIT = [sys.executable, "-m", "loadkit"]
SCENARIO = """\
name: audit-run
users: {WorkspaceUser: 1}
stages: [{duration: 8s, users: 3, spawn_rate: 3}]
faults:
  - {name: agent-kill, at: 2s, for: 3s, kind: kill, target: agent}
"""


def loadkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOADKIT, *args], capture_output=True, text=True, timeout=300)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Target:
    """``loadkit target`` in its own process (its launcher acts on the kill fault: running it
    inside the pytest process would make the test depend on that process's gevent patching)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [*LOADKIT, "target", "--data-dir", str(data_dir), "--lease-s", "2",
             "--heartbeat-s", "0.2", "--cleanup-interval-s", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.startswith("gateway: "), first
        self.url = first.split(" ", 1)[1].strip()
        info = json.loads((data_dir / "target.json").read_text())
        self.agent_pid = info["agent"]["pid"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    running = Target(tmp_path / "target")
    yield running
    running.stop()


def test_audit_after_an_agent_kill_and_a_job_deleted_behind_our_back(target, tmp_path):
    agent_pid = target.agent_pid
    scenario = tmp_path / "audit-run.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "reports"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        LOADKIT_FAULTS_INDEX=str(tmp_path / "index"),
    )
    locust = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "workspace.py"),
            "--headless", "--host", target.url, "--skip-log-setup",
            "--loadkit-scenario", str(scenario), "--loadkit-faults", str(scenario),
            "--loadkit-target-info", str(target.data_dir / "target.json"),
            "--loadkit-out", str(out), "--ws-tasks", "echo:1", "--exit-code-on-error", "0",
        ],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert locust.returncode == 0, locust.stderr[-3000:]
    (run_dir,) = out.iterdir()
    events = read_lines(run_dir / "events.jsonl")
    kill = next(e for e in events if e["type"] == "fault_inject")
    restart = next(e for e in events if e["type"] == "fault_revert")
    assert kill["kind"] == "kill" and restart["ok"], events
    assert json.loads((target.data_dir / "target.json").read_text())["agent"]["pid"] != agent_pid
    accepted = read_lines(run_dir / "accepted.jsonl")
    assert accepted and {a["kind"] for a in accepted} == {"jobs"}
    assert any(kill["t"] < a["t"] < restart["t"] for a in accepted), "no job accepted while down"

    # 1. nothing was lost: every accepted job reached a terminal state
    audit = loadkit("audit", str(run_dir))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    summary = json.loads((run_dir / "audit.json").read_text())
    jobs = summary["kinds"]["jobs"]
    assert summary["status"] == "done" and summary["host"] == target.url
    assert jobs["accepted"] == len({a["id"] for a in accepted}) == jobs["reached"]
    assert jobs["lost"] == jobs["unknown"] == 0
    report = loadkit("report", str(run_dir), "--check", "lost(jobs) == 0")
    assert report.returncode == 0, report.stdout + report.stderr

    # 2. a job deleted behind loadkit's back is exactly the one lost
    victim = accepted[len(accepted) // 2]["id"]
    with sqlite3.connect(target.data_dir / "gateway.db") as db:
        assert db.execute("DELETE FROM jobs WHERE request_id = ?", (victim,)).rowcount == 1
    audit = loadkit("audit", str(run_dir))
    assert audit.returncode == 1, audit.stdout + audit.stderr
    assert "1 lost" in audit.stdout
    items = read_lines(run_dir / "audit.jsonl")
    assert [i["id"] for i in items if i["result"] == "lost"] == [victim]
    assert json.loads((run_dir / "audit.json").read_text())["kinds"]["jobs"]["lost"] == 1
    report = loadkit("report", str(run_dir), "--check", "lost(jobs) == 0")
    assert report.returncode == 1, report.stdout + report.stderr
    verdict = json.loads((run_dir / "summary.json").read_text())["checks"][0]
    assert verdict["passed"] is False and verdict["value"] == 1

    # 3. the service is gone: "not audited" with the reason, and the check fails
    target.stop()
    audit = loadkit("audit", str(run_dir))
    assert audit.returncode == 3, audit.stdout + audit.stderr
    summary = json.loads((run_dir / "audit.json").read_text())
    assert summary["status"] == "not audited" and "cannot reach" in summary["reason"]
    report = loadkit("report", str(run_dir), "--check", "lost(jobs) == 0")
    assert report.returncode == 1
    verdict = json.loads((run_dir / "summary.json").read_text())["checks"][0]
    assert verdict["value_text"] == "not audited" and "cannot reach" in verdict["note"]
