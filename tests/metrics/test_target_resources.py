"""Against the real target: resource samples for its processes, also across a restart."""

from __future__ import annotations

import csv
import json

from metrics_support import (
    LOCUSTFILES,
    assert_run_matches_locust,
    locust,
    poll_until,
    run_dirs,
    stop,
)


def _rows(run_dir) -> list[dict[str, str]]:
    path = run_dir / "resources.csv"
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return [row for row in csv.DictReader(file) if row.get("connections") is not None]
        # (a row still being written has no last column yet)


def test_target_processes_are_sampled_and_followed_across_a_restart(tmp_path, target) -> None:
    out = tmp_path / "reports"
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "target_users.py"),
            "--headless",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "60s",
            "-H",
            target.url,
            "--json-file",
            str(tmp_path / "locust"),
            "--loadkit-out",
            str(out),
            "--loadkit-target-info",
            str(target.data_dir),
        ],
        cwd=tmp_path,
    )
    try:
        run_dir = poll_until(lambda: (run_dirs(out) or [None])[0], timeout=60)
        old_pid = target.gateway.pid
        poll_until(lambda: {"gateway", "agent"} <= {r["source"] for r in _rows(run_dir)})
        target.restart("gateway")  # rewrites target.json with the new pid
        assert target.gateway.pid != old_pid
        poll_until(lambda: _gateway_rows_after(run_dir, target.gateway.pid) >= 2, timeout=60)
        proc.send_signal(2)  # Ctrl-C: Locust stops, loadkit marks the run interrupted
        output, _ = proc.communicate(timeout=60)
    finally:
        stop(proc)

    run = json.loads((run_dir / "run.json").read_text())
    assert run["target"]["processes"] == {"gateway": old_pid, "agent": target.agent.pid}
    assert run["exit_status"] == "interrupted", output
    rows = _rows(run_dir)
    for source in ("gateway", "agent"):
        mine = [r for r in rows if r["source"] == source]
        assert mine and all(int(r["rss_bytes"]) > 0 and r["num_fds"] for r in mine)
    assert any(int(r["connections"]) > 0 for r in rows if r["source"] == "gateway")
    assert_run_matches_locust(run_dir, tmp_path / "locust")


def _gateway_rows_after(run_dir, pid) -> int:
    """Gateway rows written after the restart (the sampler follows target.json)."""
    import psutil

    started = psutil.Process(pid).create_time()
    return sum(1 for r in _rows(run_dir) if r["source"] == "gateway" and float(r["t"]) > started)
