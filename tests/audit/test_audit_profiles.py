"""The loss audit and probes through service profiles, against real services of other API
dialects on 127.0.0.1 (tests/users/services/): a healthy run loses nothing, a job
deleted behind loadkit's back is exactly the one lost, a probe makes the profile's call,
and a kind the profile cannot ask about is "not audited", never "0 lost"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from dialect_services import DialectService

from loadkit.audit.audit import run_audit
from loadkit.audit.settings import AuditSettings
from loadkit.report.audit import evaluate_audit_check
from loadkit.report.servicechecks import parse_service_check

ROOT = Path(__file__).resolve().parents[2]


def loadkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "loadkit", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )  # fmt: skip


def run(tmp_path: Path, scenario: dict) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / f"{scenario['name']}.yaml"
    path.write_text(json.dumps(scenario))
    out = tmp_path / "reports"
    proc = loadkit("run", str(path), "--out", str(out), cwd=tmp_path)
    (run_dir,) = out.iterdir()
    return proc, run_dir


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lost_check(run_dir: Path) -> dict:
    checks = json.loads((run_dir / "summary.json").read_text())["checks"]
    return next(c for c in checks if c["expression"] == "lost(jobs) == 0")


def test_jobs_audited_through_the_camel_gateway_profile_and_a_probe_call(camel, tmp_path):
    scenario = {
        "name": "camel-audit",
        "target": camel.url,
        "service": "camel-gateway",
        "users": {"WorkspaceUser": 2},
        "stages": [{"duration": "4s", "users": 2, "spawn_rate": 2}],
        "options": {"job-tasks": "echo:3", "job-poll-interval": 0.02, "job-wait": 0.05},
        "probes": [
            {
                "name": "hook",
                "call": "health",
                "every": "250ms",
                "fields": {"state": "circuitBreakers.stopHook"},
            },
        ],
        "audit": {"deadline": "10s"},
        "checks": ["lost(jobs) == 0", "accepted(jobs) > 3", 'probe(hook.state) == "closed"'],
    }
    proc, run_dir = run(tmp_path, scenario)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert all(c["passed"] for c in summary["checks"]), summary["checks"]

    # every item was made through the profile, and recorded so
    accepted = lines(run_dir / "accepted.jsonl")
    assert accepted and {(a["kind"], a["profile"]) for a in accepted} == {("jobs", "camel-gateway")}
    jobs = json.loads((run_dir / "audit.json").read_text())["kinds"]["jobs"]
    assert jobs["status"] == "done" and jobs["unknown"] == 0, jobs
    assert jobs["accepted"] == jobs["reached"] == len({a["id"] for a in accepted})
    assert jobs["lost"] == 0 and jobs["applied_twice"] is None  # the dialect does not say
    items = lines(run_dir / "audit.jsonl")
    assert {i["state"] for i in items} == {"completed"}
    assert all(i["ended_at"] is not None for i in items)  # its completedAt, read by the profile

    # the probe made the profile's call (GET /health of the camel gateway) all run long
    samples = [s for s in lines(run_dir / "probes.jsonl") if s["probe"] == "hook"]
    assert len(samples) >= 8 and all(s["ok"] for s in samples), samples[:3]
    assert {s["values"]["state"] for s in samples} == {"closed"}

    # a job deleted behind loadkit's back is exactly the one lost
    victim = accepted[len(accepted) // 2]["id"]
    httpx.delete(f"{camel.url}/admin/jobs/{victim}", timeout=10).raise_for_status()
    audit = loadkit("audit", str(run_dir), cwd=tmp_path)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    assert "1 lost" in audit.stdout
    lost = [i for i in lines(run_dir / "audit.jsonl") if i["result"] == "lost"]
    assert [i["id"] for i in lost] == [victim] and "HTTP 404" in lost[0]["reason"]
    report = loadkit("report", str(run_dir), "--check", "lost(jobs) == 0", cwd=tmp_path)
    assert report.returncode == 1, report.stdout + report.stderr
    verdict = lost_check(run_dir)
    assert verdict["passed"] is False and verdict["value"] == 1

    # asked through a profile that does not describe jobs: not audited, never "0 lost"
    audit = loadkit("audit", str(run_dir), "--profile", "task-sync", cwd=tmp_path)
    assert audit.returncode == 3, audit.stdout + audit.stderr
    assert "jobs: " in audit.stdout and "not audited" in audit.stdout
    jobs = json.loads((run_dir / "audit.json").read_text())["kinds"]["jobs"]
    assert jobs["status"] == "not audited" and jobs["lost"] is None
    assert "task-sync does not describe jobs" in jobs["reason"]
    report = loadkit("report", str(run_dir), "--check", "lost(jobs) == 0", cwd=tmp_path)
    assert report.returncode == 1
    verdict = lost_check(run_dir)
    assert verdict["value_text"] == "not audited" and "does not describe jobs" in verdict["note"]


def test_sessions_audited_through_the_hermes_profile(hermes, tmp_path):
    scenario = {
        "name": "hermes-audit",
        "target": hermes.url,
        "service": "hermes-sessions",
        "locustfile": str(ROOT / "locustfiles" / "sessions.py"),
        "users": {"SessionBurstUser": 2},
        "stages": [{"duration": "3s", "users": 2, "spawn_rate": 2}],
        "options": {"session-wait": 0.1},
        "audit": {"deadline": "10s"},
        "checks": ["lost(sessions) == 0", "accepted(sessions) > 0"],
    }
    proc, run_dir = run(tmp_path, scenario)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    sessions = json.loads((run_dir / "audit.json").read_text())["kinds"]["sessions"]
    assert sessions["status"] == "done" and sessions["unknown"] == 0, sessions
    assert sessions["accepted"] == sessions["reached"] > 0 and sessions["lost"] == 0
    # a fresh process of the service keeps no sessions: every one is gone there
    with DialectService("hermes_sessions") as fresh:
        audit = loadkit("audit", str(run_dir), "--host", fresh.url, cwd=tmp_path)
    assert audit.returncode == 1, audit.stdout + audit.stderr
    after = json.loads((run_dir / "audit.json").read_text())["kinds"]["sessions"]
    assert after["lost"] == after["accepted"] == sessions["accepted"], after


FAST = AuditSettings(deadline_s=3.0, late_after_s=10.0, every_s=0.1)


def test_writes_of_a_profile_without_a_read_call_are_not_audited(tmp_path, camel):
    """task-sync has no call that reads a task back: its writes are 'not audited' with the
    reason (no request is made for them), and subscribers' missed events still count."""
    now = time.time()
    records = [
        {
            "t": now,
            "kind": "sync",
            "id": "t1",
            "repo": "r",
            "version": 2,
            "api": "YamlSync",
            "profile": "task-sync",
        },
        {"t": now, "kind": "sync-subscriber", "id": "c1", "missed": 0, "out_of_order": 0},
    ]
    (tmp_path / "accepted.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_audit(tmp_path, camel.url, FAST)
    sync = result.kinds["sync"]
    assert sync["status"] == "not audited" and "sync.audit" in sync["reason"], sync
    assert sync["lost"] is None and sync["reached"] is None and sync["missed"] == 0
    audit = json.loads((tmp_path / "audit.json").read_text())
    for expression, passed, text in (
        ("lost(sync) == 0", False, "not audited"),
        ("applied_twice(sync) == 0", False, "not audited"),
        ("missed(sync) == 0", True, "0"),
    ):
        check = parse_service_check(expression)
        assert check is not None
        verdict = evaluate_audit_check(check, audit, "scenario")
        assert (verdict.passed, verdict.value_text) == (passed, text), (expression, verdict)
