"""The proxy fault backend against a real ``loadkit proxy`` in front of the real target."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest
from fault_helpers import locust_cmd, locust_env, read_events, wait_until, write_plan

from loadkit.faults.backends.base import BackendContext
from loadkit.faults.backends.proxy import ProxyBackend
from loadkit.faults.model import parse_faults

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py


def one(**item):
    return parse_faults([{"name": "net", "at": 0, **item}], "test")[0]


def finished_job(url, command):
    job = httpx.post(
        f"{url}/execute", json={"workspace": "faults", "command": command}, timeout=30
    ).json()

    def done():
        state = httpx.get(f"{url}/status/{job['request_id']}", timeout=30).json()["state"]
        return state == "completed"

    wait_until(done, timeout=60, what="job completed")
    return job["request_id"]


def timed_get(url):
    start = time.perf_counter()
    response = httpx.get(url, timeout=120)
    assert response.status_code == 200
    return time.perf_counter() - start, len(response.content)


def test_bandwidth_toxic_slows_a_large_output_by_the_expected_factor(proxied_target, proxy_api):
    proxy_url, client, target = proxied_target
    request_id = finished_job(target.url, "bytes 600000")  # ~800 KB of base64 JSON
    _, size = timed_get(f"{proxy_url}/responses/{request_id}")
    rate = 256 * 1024
    spec = one(kind="bandwidth", rate="256KB", proxy="gw")
    backend = ProxyBackend(BackendContext(proxy_api=proxy_api))
    backend.inject(spec)
    assert [t["name"] for t in client.list_toxics("gw")] == ["loadkit-net"]
    slowed, _ = timed_get(f"{proxy_url}/responses/{request_id}")
    backend.revert(spec)
    assert client.list_toxics("gw") == []
    expected = size / rate
    # a lower bound only: a busy machine can make it slower, never faster
    assert slowed >= 0.8 * expected, (slowed, expected, size)
    after, _ = timed_get(f"{proxy_url}/responses/{request_id}")
    assert after < slowed


def test_down_refuses_connections_until_reverted(proxied_target, proxy_api):
    proxy_url, client, _ = proxied_target
    backend = ProxyBackend(BackendContext(proxy_api=proxy_api, proxy_name="gw"))
    spec = one(kind="down")
    backend.inject(spec)
    assert client.get_proxy("gw")["enabled"] is False
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{proxy_url}/health", timeout=5)
    backend.revert(spec)
    assert httpx.get(f"{proxy_url}/health", timeout=30).status_code == 200


@pytest.mark.parametrize(
    "item",
    [
        {"kind": "latency", "latency": "50ms", "jitter": "10ms", "stream": "upstream"},
        {"kind": "timeout", "timeout": "1s"},
        {"kind": "reset_peer", "timeout": "100ms"},
        {"kind": "slicer", "average_size": "64", "size_variation": "8", "delay": "1ms"},
        {"kind": "limit_data", "bytes": "1KB"},
        {"kind": "slow_close", "delay": "100ms", "toxicity": "50%"},
    ],
)
def test_every_toxic_kind_is_accepted_and_removed(proxied_target, proxy_api, item):
    _, client, _ = proxied_target
    spec = one(proxy="gw", **item)
    backend = ProxyBackend(BackendContext(proxy_api=proxy_api))
    backend.inject(spec)
    (toxic,) = client.list_toxics("gw")
    assert toxic["type"] == item["kind"] and toxic["name"] == "loadkit-net"
    backend.revert(spec)
    assert client.list_toxics("gw") == []
    backend.revert(spec)  # already gone: still fine (recover may run twice)


def test_latency_fault_in_a_real_run_shows_only_inside_its_window(
    proxied_target, proxy_api, spawn, tmp_path
):
    proxy_url, client, _ = proxied_target
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {
                "name": "slow-net",
                "at": "2s",
                "for": "3s",
                "kind": "latency",
                "latency": "500ms",
                "proxy": "gw",
            },
        ],
    )
    run_dir, csv = tmp_path / "run", tmp_path / "stats"
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        locust_cmd(
            proxy_url, plan, "--loadkit-proxy-api", proxy_api, "--csv", str(csv), run_time="8s"
        ),
        stdout=log,
        stderr=log,
        env=locust_env(run_dir, tmp_path / "fault-index", LOADKIT_TEST_PATH="/health"),
    )
    assert proc.wait(timeout=120) == 0, (tmp_path / "locust.log").read_text()
    rows = {}
    import csv as csv_module

    with open(tmp_path / "stats_stats.csv") as fh:
        for row in csv_module.DictReader(fh):
            rows[row["Name"]] = row
    inside, outside = rows["GET /health [slow-net]"], rows["GET /health [none]"]
    assert float(inside["50%"]) >= 450, inside
    assert float(outside["50%"]) < 250, outside
    (inject,) = read_events(run_dir, "fault_inject")
    (revert,) = read_events(run_dir, "fault_revert")
    assert inject["params"]["latency"] == 0.5 and revert["reason"] == "scheduled"
    assert client.list_toxics("gw") == []


def test_kill_9_with_a_toxic_then_recover_removes_it(proxied_target, proxy_api, spawn, tmp_path):
    proxy_url, client, _ = proxied_target
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "slow-net", "at": "0s", "kind": "latency", "latency": "200ms", "proxy": "gw"},
        ],
    )
    index = tmp_path / "fault-index"
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        locust_cmd(proxy_url, plan, "--loadkit-proxy-api", proxy_api, run_time="10m"),
        stdout=log,
        stderr=log,
        env=locust_env(tmp_path / "run", index),
    )
    wait_until(lambda: client.list_toxics("gw"), timeout=90, what="toxic added")
    wait_until(lambda: list(index.glob("*.journal")), what="journal written")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert [t["name"] for t in client.list_toxics("gw")] == ["loadkit-slow-net"]
    result = subprocess.run(
        [sys.executable, "-m", "loadkit", "faults", "recover", "--index", str(index)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert client.list_toxics("gw") == []
