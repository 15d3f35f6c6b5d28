"""The Faults tab and routes in a real Locust web UI on 127.0.0.1."""

from __future__ import annotations

import shutil
import signal
import subprocess

import httpx
import psutil
import pytest
from fault_helpers import (
    SLEEPER,
    free_port,
    http_server_cmd,
    locust_cmd,
    locust_env,
    process_state,
    read_events,
    wait_until,
    write_plan,
)


@pytest.fixture
def web_locust(spawn, tmp_path):
    host_port, web_port = free_port(), free_port()
    spawn(http_server_cmd(host_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [
            {"name": "hold", "at": "10m", "kind": "pause", "pid": sleeper.pid},
            {"name": "broken", "at": "10m", "kind": "pause", "pid": 999_999_999},
        ],
    )
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        locust_cmd(
            f"http://127.0.0.1:{host_port}",
            plan,
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(web_port),
            run_time=None,
        ),
        stdout=log,
        stderr=log,
        env=locust_env(tmp_path / "run", tmp_path / "fault-index"),
    )
    ui = f"http://127.0.0.1:{web_port}"

    def up():
        try:
            return httpx.get(f"{ui}/faults/state", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=90, what="locust web UI")
    yield ui, sleeper, proc, tmp_path / "run"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert process_state(sleeper.pid) != psutil.STATUS_STOPPED


def faults_rows(ui):
    payload = httpx.get(f"{ui}/stats/requests", timeout=30).json()
    (entry,) = [e for e in payload["extended_stats"] if e["key"] == "loadkit-faults"]
    return {row["name"]: row for row in entry["data"]}


def test_tab_lists_the_plan_and_buttons_inject_and_revert(web_locust):
    ui, sleeper, _, run_dir = web_locust
    index = httpx.get(f"{ui}/", timeout=30).text
    assert '"extended_tabs"' in index and "loadkit-faults" in index and '"Faults"' in index
    page = httpx.get(f"{ui}/faults", timeout=30)
    assert page.status_code == 200 and "<h1>Faults</h1>" in page.text
    state = httpx.get(f"{ui}/faults/state", timeout=30).json()
    assert [f["name"] for f in state["faults"]] == ["hold", "broken"]
    assert faults_rows(ui)["hold"]["state"] == "pending"

    injected = httpx.post(f"{ui}/faults/hold/inject", timeout=30)
    assert injected.status_code == 200 and injected.json()["state"] == "active"
    wait_until(lambda: process_state(sleeper.pid) == psutil.STATUS_STOPPED, what="paused")
    assert faults_rows(ui)["hold"]["state"] == "active"

    reverted = httpx.post(f"{ui}/faults/hold/revert", timeout=30)
    assert reverted.status_code == 200 and reverted.json()["state"] == "reverted"
    wait_until(lambda: process_state(sleeper.pid) != psutil.STATUS_STOPPED, what="resumed")
    (revert,) = read_events(run_dir, "fault_revert")
    assert revert["reason"] == "manual" and revert["ok"] is True

    failed = httpx.post(f"{ui}/faults/broken/inject", timeout=30)
    assert failed.status_code == 502 and "is not running" in failed.json()["error"]
    assert read_events(run_dir, "fault_error")[0]["name"] == "broken"
    assert httpx.post(f"{ui}/faults/nope/inject", timeout=30).status_code == 404


def test_stop_button_reverts_active_faults(web_locust):
    ui, sleeper, _, run_dir = web_locust
    started = httpx.post(f"{ui}/swarm", data={"user_count": 1, "spawn_rate": 1}, timeout=30)
    assert started.status_code == 200
    wait_until(
        lambda: httpx.get(f"{ui}/faults/state", timeout=30).json()["running"],
        what="schedule started",
    )
    httpx.post(f"{ui}/faults/hold/inject", timeout=30)
    wait_until(lambda: process_state(sleeper.pid) == psutil.STATUS_STOPPED, what="paused")
    assert httpx.post(f"{ui}/stop", timeout=60).status_code == 200
    wait_until(lambda: process_state(sleeper.pid) != psutil.STATUS_STOPPED, what="resumed")
    revert = read_events(run_dir, "fault_revert")[-1]
    assert revert["reason"] == "stop" and revert["ok"] is True


def chromium_dom(url, profile):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed")
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=6000",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


@pytest.mark.browser
def test_faults_page_and_locust_tab_render_in_headless_chromium(web_locust, tmp_path):
    ui, *_ = web_locust
    page = chromium_dom(f"{ui}/faults", tmp_path / "chromium")
    assert 'data-fault="hold"' in page and ">inject</button>" in page
    # Locust shows its tabs once a test runs; the Faults tab is one of them
    assert httpx.post(f"{ui}/swarm", data={"user_count": 1, "spawn_rate": 1}, timeout=30).is_success
    tab = chromium_dom(f"{ui}/?tab=loadkit-faults", tmp_path / "chromium")
    assert ">hold</td>" in tab and "600s until reverted" in tab
