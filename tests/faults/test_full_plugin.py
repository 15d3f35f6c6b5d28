"""Faults inside the whole loadkit plugin: the real run recorder, run dir and latency.hlog."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest
from fault_helpers import LOCUST, read_events, write_plan

from loadkit.rundir.hlog import decode_tag, read_log, read_start_time

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

FULL_LOCUSTFILE = Path(__file__).with_name("full_locustfile.py")


def test_latency_step_shows_in_latency_hlog_only_inside_the_window(
    proxied_target, proxy_api, spawn, tmp_path
):
    proxy_url, client, _ = proxied_target
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {
                "name": "slow-net",
                "at": "3s",
                "for": "4s",
                "kind": "latency",
                "latency": "500ms",
                "proxy": "gw",
            },
        ],
    )
    out = tmp_path / "reports"
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        [
            LOCUST,
            "-f",
            str(FULL_LOCUSTFILE),
            "--headless",
            "-u",
            "3",
            "-r",
            "10",
            "-t",
            "11s",
            "--host",
            proxy_url,
            "--loadkit-faults",
            str(plan),
            "--loadkit-proxy-api",
            proxy_api,
            "--loadkit-out",
            str(out),
        ],
        stdout=log,
        stderr=log,
        env={**os.environ, "LOADKIT_FAULTS_INDEX": str(tmp_path / "fault-index")},
    )
    assert proc.wait(timeout=120) == 0, (tmp_path / "locust.log").read_text()
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (inject,) = read_events(run_dir, "fault_inject")
    (revert,) = read_events(run_dir, "fault_revert")
    assert revert["reason"] == "scheduled" and revert["ok"] is True
    assert (run_dir / "faults.journal").read_text() == ""
    assert client.list_toxics("gw") == []

    start = read_start_time(run_dir / "latency.hlog")
    window = (inject["t"] - start, revert["t"] - start)
    inside, outside = [], []
    for interval in read_log(run_dir / "latency.hlog"):
        outcome, endpoint = decode_tag(interval.tag)
        if outcome != "ok" or not endpoint.endswith("GET /health"):
            continue
        median_ms = interval.histogram.get_value_at_percentile(50) / 1000
        if window[0] + 0.5 <= interval.start_s and interval.end_s <= window[1] - 0.5:
            inside.append(median_ms)
        elif interval.end_s <= window[0] - 0.2 or interval.start_s >= window[1] + 1.0:
            outside.append(median_ms)
    assert inside and outside, (window, json.dumps([inside, outside]))
    assert statistics.median(inside) >= 450, inside
    assert statistics.median(outside) < 250, outside
