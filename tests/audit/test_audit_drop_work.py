"""`loadkit run` with the agent killed mid-run, on a healthy target and on one whose option
drops work (leases of a dead agent never requeued): the audit tells them apart."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def scenario(broken: bool) -> dict:
    return {
        "name": "drop-work",
        "users": {"WorkspaceUser": 1},
        "stages": [{"duration": "7s", "users": 3, "spawn_rate": 3}],
        # jobs that sleep 2 s (then end 'timeout'): some are always running when the agent dies
        "options": {"job-tasks": "timeout:1", "job-long-s": 5, "job-timeout-ms": 2000},
        "target_options": {"lease_s": 1, "break_expired_leases_not_requeued": broken},
        "faults": [
            {"name": "agent-kill", "at": "3s", "for": "2s", "kind": "kill", "target": "agent"}
        ],
        "audit": {"deadline": "8s"},
        "checks": ["lost(jobs) == 0"],
    }


@pytest.mark.parametrize("broken", [False, True], ids=["healthy", "drops-work"])
def test_the_audit_finds_work_the_target_dropped_after_an_agent_kill(tmp_path, broken):
    path = tmp_path / "drop-work.yaml"
    path.write_text(json.dumps(scenario(broken)))
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (run_dir,) = out.iterdir()
    jobs = json.loads((run_dir / "audit.json").read_text())["kinds"]["jobs"]
    items = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    (verdict,) = json.loads((run_dir / "summary.json").read_text())["checks"]
    assert jobs["accepted"] > 3 and jobs["unknown"] == 0, jobs
    if not broken:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert jobs["lost"] == 0 and jobs["reached"] == jobs["accepted"]
        assert verdict["passed"] is True
        return
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    lost = [i for i in items if i["result"] == "lost"]
    assert jobs["lost"] == len(lost) >= 1
    assert all(i["state"] == "processing" for i in lost), lost  # held by the dead agent
    assert all("after the audit deadline" in i["reason"] for i in lost), lost
    assert verdict["passed"] is False and verdict["value"] == len(lost)
