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


def _in_process_ui(web_login: bool):
    """Locust's real WebUI (not started: Flask's test client speaks to it) with the tab."""
    from locust.env import Environment

    from loadkit.faults import webui
    from loadkit.faults.backends.base import BackendContext, BackendSet
    from loadkit.faults.model import parse_faults
    from loadkit.faults.schedule import FaultSchedule

    specs = parse_faults(
        [{"name": "hold", "at": "10m", "kind": "pause", "pid": 999_999_999}], source="t"
    )
    env = Environment()
    ui = env.create_web_ui("127.0.0.1", 0, web_login=web_login, delayed_start=True)
    if web_login:  # what a locustfile using --web-login sets up
        ui.app.secret_key = "test-only"
        ui.login_manager.user_loader(lambda _user_id: None)
    webui.install(ui, FaultSchedule(specs, BackendSet(BackendContext())))
    return ui.app.test_client()


@pytest.mark.parametrize("route", ["/faults", "/faults/state"])
def test_fault_routes_refuse_non_loopback_clients_without_web_login(route):
    client = _in_process_ui(web_login=False)
    assert client.get(route, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get(route, environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"}).status_code == 200
    assert client.get(route, environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    refused = client.post("/faults/hold/inject", environ_base={"REMOTE_ADDR": "192.168.1.9"})
    assert refused.status_code == 403


def test_with_web_login_the_login_decides_not_the_address():
    client = _in_process_ui(web_login=True)
    answer = client.get("/faults/state", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert answer.status_code != 403  # Locust's login guard answers (redirect/401)
    assert answer.status_code in (302, 401)


def test_manual_inject_honours_for_and_has_no_late_ms(spawn, tmp_path):
    host_port, web_port = free_port(), free_port()
    spawn(http_server_cmd(host_port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sleeper = spawn(SLEEPER)
    plan = write_plan(
        tmp_path / "plan.yaml",
        [{"name": "brief", "at": "10m", "for": "2s", "kind": "pause", "pid": sleeper.pid}],
    )
    log = open(tmp_path / "locust.log", "wb")  # noqa: SIM115
    proc = spawn(
        locust_cmd(
            f"http://127.0.0.1:{host_port}", plan,
            "--web-host", "127.0.0.1", "--web-port", str(web_port), run_time=None,
        ),
        stdout=log, stderr=log,
        env=locust_env(tmp_path / "run", tmp_path / "fault-index"),
    )  # fmt: skip
    ui = f"http://127.0.0.1:{web_port}"

    def up():
        try:
            return httpx.get(f"{ui}/faults/state", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=90, what="locust web UI")
    injected = httpx.post(f"{ui}/faults/brief/inject", timeout=30)
    assert injected.status_code == 200 and injected.json()["state"] == "active"
    assert injected.json()["late_ms"] is None and faults_rows(ui)["brief"]["late_ms"] == ""
    assert process_state(sleeper.pid) == psutil.STATUS_STOPPED
    wait_until(
        lambda: process_state(sleeper.pid) != psutil.STATUS_STOPPED,
        timeout=10,
        what="reverted after for: 2s",
    )
    (inject,) = read_events(tmp_path / "run", "fault_inject")
    (revert,) = read_events(tmp_path / "run", "fault_revert")
    assert 1.8 <= revert["t"] - inject["t"] <= 3.5, revert["t"] - inject["t"]
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
