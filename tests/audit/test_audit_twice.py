"""Applied twice, where the service exposes it: the built-in target says how often an agent
was handed each job (``claims``). After ``kill -9`` of the agent its running jobs are run
again by the next one, so the audit counts them applied twice (through the built-in
profile and through the YAML profile's ``applied:`` field alike) and
``applied_twice(jobs) == 0`` fails while ``lost(jobs) == 0`` passes; without a kill
nothing is applied twice and the check passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = ["lost(jobs) == 0", "applied_twice(jobs) == 0"]


def scenario(service: str, kill: bool) -> dict:
    data = {
        "name": "twice",
        "service": service,
        "users": {"WorkspaceUser": 1},
        "stages": [{"duration": "7s", "users": 3, "spawn_rate": 3}],
        # jobs that run 2 s (then end 'timeout'): some are always running when the agent dies
        "options": {"job-tasks": "timeout:1", "job-long-s": 5, "job-timeout-ms": 2000},
        "audit": {"deadline": "10s"},
        "checks": CHECKS,
    }
    if kill:
        data["target_options"] = {"lease_s": 1}
        data["faults"] = [
            {"name": "agent-kill", "at": "3s", "for": "2s", "kind": "kill", "target": "agent"}
        ]
    return data


def run(tmp_path: Path, data: dict) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "twice.yaml"
    path.write_text(json.dumps(data))
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (run_dir,) = out.iterdir()
    return proc, run_dir


def results(run_dir: Path) -> tuple[dict, list[dict], dict[str, dict]]:
    jobs = json.loads((run_dir / "audit.json").read_text())["kinds"]["jobs"]
    items = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    checks = json.loads((run_dir / "summary.json").read_text())["checks"]
    return jobs, items, {c["expression"]: c for c in checks}


@pytest.mark.parametrize("service", ["builtin", "builtin-yaml"])
def test_jobs_run_again_after_an_agent_kill_are_applied_twice(tmp_path, service):
    proc, run_dir = run(tmp_path, scenario(service, kill=True))
    jobs, items, checks = results(run_dir)
    assert jobs["status"] == "done" and jobs["unknown"] == 0, jobs
    assert jobs["lost"] == 0 and jobs["reached"] == jobs["accepted"] > 3, jobs
    twice = [i for i in items if i["applied"] > 1]
    assert jobs["applied_twice"] == len(twice) >= 1, items
    assert all(i["applied"] == 1 for i in items if i not in twice)
    # the jobs run twice were accepted before the agent died
    inject = next(
        json.loads(line)
        for line in (run_dir / "events.jsonl").read_text().splitlines()
        if json.loads(line)["type"] == "fault_inject"
    )
    assert all(i["accepted_at"] < inject["t"] for i in twice), (inject, twice)
    assert checks["lost(jobs) == 0"]["passed"] is True
    verdict = checks["applied_twice(jobs) == 0"]
    assert verdict["passed"] is False and verdict["value"] == len(twice), verdict
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]


def test_without_a_kill_no_job_is_applied_twice(tmp_path):
    proc, run_dir = run(tmp_path, scenario("builtin", kill=False))
    jobs, items, checks = results(run_dir)
    assert jobs["accepted"] > 3 and jobs["applied_twice"] == 0, jobs
    assert {i["applied"] for i in items} == {1}
    assert all(c["passed"] for c in checks.values()), checks
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
