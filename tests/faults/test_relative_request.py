"""A `request` fault with a relative URL reaches the built-in target (whose port is random)."""

from __future__ import annotations

import json
import subprocess
import sys

from fault_helpers import read_events

SCENARIO = {
    "name": "relative-request",
    "users": {"WorkspaceUser": 1},
    "stages": [{"duration": "7s", "users": 2, "spawn_rate": 2}],
    "options": {"ws-tasks": "echo:1"},
    "faults": [
        {
            "name": "execute-503",
            "at": "2s",
            "for": "3s",
            "kind": "request",
            "method": "POST",
            "url": "/admin/faults",
            "json": {"path": "/execute", "error_rate": 1.0, "status": 503},
            "revert": {"method": "DELETE", "url": "/admin/faults"},
        }
    ],
}


def test_a_relative_request_fault_reaches_the_builtin_target(tmp_path):
    path = tmp_path / "relative.yaml"
    path.write_text(json.dumps(SCENARIO))
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (run_dir,) = out.iterdir()
    assert not read_events(run_dir, "fault_error")
    (inject,) = read_events(run_dir, "fault_inject")
    (revert,) = read_events(run_dir, "fault_revert")
    assert inject["params"]["url"] == "/admin/faults" and revert["ok"] is True
    phases = {p["name"]: p for p in json.loads((run_dir / "summary.json").read_text())["phases"]}
    during = phases["fault:execute-503"]["endpoints"]["POST /execute"]
    # the phase is cut at interval boundaries (1 s), so its edges hold a few answers from before
    assert during["failures"] > 0 and during["error_rate"] > 0.5, during
    assert phases["before faults"]["endpoints"]["POST /execute"]["failures"] == 0
    after = phases["after fault:execute-503"]["endpoints"]["POST /execute"]
    assert after["count"] > 0 and after["failures"] < after["count"]
