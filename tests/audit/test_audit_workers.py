"""With workers, the users' accepted work reaches the master's accepted.jsonl and is audited."""

from __future__ import annotations

import json
import subprocess
import sys

SCENARIO = {
    "name": "audit-workers",
    "users": {"WorkspaceUser": 1},
    "stages": [{"duration": "5s", "users": 2, "spawn_rate": 2}],
    "options": {"ws-tasks": "echo:1"},
    "checks": ["lost(jobs) == 0", "late(jobs) < 1%", "accepted(jobs) > 5"],
}


def test_workers_send_accepted_work_to_the_master(tmp_path):
    path = tmp_path / "audit-workers.yaml"
    path.write_text(json.dumps(SCENARIO))
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (run_dir,) = out.iterdir()
    accepted = [json.loads(line) for line in (run_dir / "accepted.jsonl").read_text().splitlines()]
    jobs = json.loads((run_dir / "audit.json").read_text())["kinds"]["jobs"]
    assert jobs["accepted"] == len({a["id"] for a in accepted}) > 5
    assert jobs["reached"] == jobs["accepted"] and jobs["lost"] == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c["passed"] for c in summary["checks"]] == [True, True, True], summary["checks"]
