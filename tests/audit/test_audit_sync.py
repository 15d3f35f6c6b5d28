"""The loss audit of sync writes and subscribers, and of sessions, in one real `loadkit run`."""

from __future__ import annotations

import json
import subprocess
import sys

SCENARIO = {
    "name": "audit-sync",
    "locustfile": "locustfiles/mixed.py",
    "users": {"SyncClientUser": 2, "SessionBurstUser": 1},
    "stages": [{"duration": "6s", "users": 4, "spawn_rate": 4}],
    "options": {"sync-writer-share": 0.5, "sync-write-interval": 0.2},
    "target_options": {"cold_start_ms": "100ms", "warm_start_ms": "10ms"},
    "checks": [
        "lost(sync) == 0",
        "missed(sync) == 0",
        "out_of_order(sync) == 0",
        "accepted(sync) > 0",
        "lost(sessions) == 0",
    ],
}


def test_writes_subscribers_and_sessions_are_audited(tmp_path):
    path = tmp_path / "audit-sync.yaml"
    path.write_text(json.dumps(SCENARIO))
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert all(c["passed"] for c in summary["checks"]), summary["checks"]
    kinds = json.loads((run_dir / "audit.json").read_text())["kinds"]
    sync, sessions = kinds["sync"], kinds["sessions"]
    assert sync["accepted"] > 0 and sync["reached"] == sync["accepted"]
    assert sync["subscribers"] >= 1 and sync["missed"] == sync["out_of_order"] == 0
    assert sessions["accepted"] > 0 and sessions["reached"] == sessions["accepted"]
