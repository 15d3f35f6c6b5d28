"""A `request` fault with a relative URL reaches the built-in target (whose port is random)."""

from __future__ import annotations

import json
import subprocess
import sys

from fault_helpers import read_events

from loadkit.rundir.hlog import decode_tag, read_log, read_start_time

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
    assert not (run_dir / "audit.json").exists()  # no audit checks, no audit section: no audit
    (inject,) = read_events(run_dir, "fault_inject")
    (revert,) = read_events(run_dir, "fault_revert")
    assert inject["params"]["url"] == "/admin/faults" and revert["ok"] is True
    # every failed POST /execute is in an interval that overlaps the fault's window
    start = read_start_time(run_dir / "latency.hlog")
    assert start is not None
    window = (inject["t"] - start, revert["t"] - start)
    intervals = [
        (*decode_tag(tag), begin, end, hist.get_total_count())
        for tag, begin, end, hist in read_log(run_dir / "latency.hlog")
    ]
    failed = [i for i in intervals if i[0] == "fail" and i[1] == "POST /execute"]
    assert sum(i[4] for i in failed) > 10, intervals
    assert all(begin < window[1] and end > window[0] for _, _, begin, end, _ in failed), failed
    ok_after = [i for i in intervals if i[:2] == ("ok", "POST /execute") and i[2] > window[1]]
    assert ok_after  # reverted: the target answers again
