"""events.jsonl follows a shape's stages and the user count, once per interval at most."""

from __future__ import annotations

import json

from metrics_support import LOCUSTFILES, locust, run_dirs

from loadkit.rundir.events import read_events


def test_stage_and_user_events_follow_the_shape(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    proc = locust(
        ["-f", str(LOCUSTFILES / "staged.py"), "--headless", "-H", url, "--loadkit-out", str(out)],
        cwd=tmp_path,
    )
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    [run_dir] = run_dirs(out)
    events = list(read_events(run_dir / "events.jsonl"))
    stages = [e for e in events if e["type"] == "stage"]
    assert [(e["index"], e["name"], e["users"]) for e in stages] == [
        (0, "warm", 2),
        (1, "peak", 4),
    ]
    assert stages[0]["duration_s"] == 2.0 and stages[0]["spawn_rate"] == 10.0
    counts = [e["count"] for e in events if e["type"] == "users"]
    assert 2 in counts and 4 in counts
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["exit_status"] == "ok" and run["exit_code"] == 0
