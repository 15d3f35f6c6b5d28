"""Probes in a real `loadkit run` against the built-in target, with a real gateway pause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

LOADKIT = [sys.executable, "-m", "loadkit"]
BECOMES = 'probe(breaker.state) becomes "closed" within 30s after gw-pause'
SCENARIO = f"""\
name: probe-run
users: {{WorkspaceUser: 1}}
stages: [{{duration: 10s, users: 2, spawn_rate: 2}}]
options: {{ws-tasks: "echo:1"}}
target_options: {{request_timeout_s: 0.5, breaker_open_s: 1, lease_s: 2}}
faults:
  - {{name: gw-pause, at: 2s, for: 4s, kind: pause, target: gateway}}
probes:
  - name: breaker          # the agent's own /health answers while the gateway is paused
    get: /health
    target: agent
    every: 200ms
    fields: {{state: circuit_breakers.gateway_callback, opened: breaker_opened}}
  - name: gateway          # the paused gateway does not answer: failed samples, no crash
    get: /health
    every: 250ms
    timeout: 300ms
    fields: {{depth: queue_depth}}
checks:
  - probe(breaker.state) == "open" during fault:gw-pause
  - probe(breaker.state) != "open" before faults
  - '{BECOMES}'
  - delta(probe(breaker.opened)) >= 1
  - max(probe(gateway.depth)) < 1000
  - lost(jobs) == 0
"""


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOADKIT, *args], capture_output=True, text=True, timeout=timeout)


def verdicts(run_dir: Path) -> dict[str, dict]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {c["expression"]: c for c in summary["checks"]}


def test_a_probe_sees_the_breaker_open_during_a_gateway_pause_and_close_after(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LOADKIT_FAULTS_INDEX", str(tmp_path / "index"))
    scenario = tmp_path / "probe-run.yaml"
    scenario.write_text(SCENARIO)
    proc = run("run", str(scenario), "--out", str(tmp_path / "reports"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    (run_dir,) = (tmp_path / "reports").iterdir()
    checks = verdicts(run_dir)
    assert all(c["passed"] for c in checks.values()), checks
    assert "open" in checks['probe(breaker.state) == "open" during fault:gw-pause']["value_text"]

    samples = [json.loads(line) for line in (run_dir / "probes.jsonl").read_text().splitlines()]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    inject = next(e["t"] for e in events if e["type"] == "fault_inject")
    revert = next(e["t"] for e in events if e["type"] == "fault_revert")
    breaker = [s for s in samples if s["probe"] == "breaker"]
    during = [s["values"]["state"] for s in breaker if inject < s["t"] < revert]
    assert "open" in during and breaker[-1]["values"]["state"] == "closed"
    gateway = [s for s in samples if s["probe"] == "gateway"]
    paused = [s for s in gateway if inject + 0.5 < s["t"] < revert]
    assert paused and all(not s["ok"] and s["error"] for s in paused), paused
    assert any(s["ok"] for s in gateway if s["t"] > revert + 0.5)  # sampled on after the pause

    # the same check with a limit shorter than what was measured fails, with the same value
    took = checks[BECOMES]["value"]
    assert 0 < took < 30
    short = BECOMES.replace("within 30s", f"within {took / 2:.4f}s")
    report = run("report", str(run_dir), "--check", short)
    assert report.returncode == 1, report.stdout + report.stderr
    again = verdicts(run_dir)[short]
    assert again["passed"] is False and again["value"] == took

    # a field no sample ever had fails "never seen", whatever the comparison
    for check in ("probe(breaker.nothing) != 1", "max(probe(nobody.x)) >= 0"):
        report = run("report", str(run_dir), "--check", check)
        assert report.returncode == 1, report.stdout + report.stderr
        assert verdicts(run_dir)[check]["value_text"] == "never seen"
    html = (run_dir / "report.html").read_text()
    assert 'id="fig-probe-breaker"' in html and 'id="audit"' in html
