"""Each ``break_*`` option breaks exactly its behaviour; without it the behaviour holds.

Every knob is tested against the real target twice: broken (the behaviour is
observably gone) and default (the same steps show the behaviour). The session
message order knob is in test_session_queues.py.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import websocket
from test_jobs import submit, wait_terminal, wait_until

from loadkit.errors import ConfigError
from loadkit.target.config import (
    BREAK_GROUP,
    AgentConfig,
    TargetConfig,
    add_break_arguments,
    add_config_arguments,
    break_fields,
    config_from_args,
    to_argv,
)
from loadkit.target.launcher import start_target


def agent_health(target):
    return httpx.get(f"{target.agent_url}/health", timeout=5).json()


def status(target, request_id):
    return httpx.get(f"{target.url}/status/{request_id}").json()


@pytest.mark.parametrize("broken", [False, True])
def test_break_breaker_never_opens(target_factory, broken):
    target = target_factory(break_breaker_never_opens=broken)
    httpx.post(f"{target.url}/admin/faults", json={"error_rate": 1.0}).raise_for_status()
    try:
        # Every claim and heartbeat fails: a working breaker opens after 3 failures.
        seen = wait_until(
            lambda: (
                (h := agent_health(target))["breaker_failures"] >= 6 or h["breaker_opened"] >= 1
            ),
            what="failures to pile up",
        )
        assert seen
        time.sleep(1.0)
        health = agent_health(target)
    finally:
        httpx.delete(f"{target.url}/admin/faults").raise_for_status()
    if broken:
        assert health["breaker_opened"] == 0
        assert health["circuit_breakers"]["gateway_callback"] == "closed"
        assert health["breaker_failures"] >= 6
    else:
        assert health["breaker_opened"] >= 1


@pytest.mark.parametrize("broken", [False, True])
def test_break_callbacks_not_retried(target_factory, broken):
    # A long lease, so a dropped result is not rescued by re-running the job.
    target = target_factory(lease_s=600.0, break_callbacks_not_retried=broken)
    url = target.url
    fault = {"path": "/internal/results", "error_rate": 1.0}
    httpx.post(f"{url}/admin/faults", json=fault).raise_for_status()
    request_id = submit(url, "callback-ws", "echo called back")
    wait_until(
        lambda: (h := agent_health(target))["outbox"] + h["dropped_results"] >= 1,
        what="the first callback to fail",
    )
    httpx.delete(f"{url}/admin/faults").raise_for_status()
    if broken:
        time.sleep(3.0)  # many retry periods (backoff_max_s is 0.5 s in tests)
        found = status(target, request_id)
        assert found["state"] == "processing"
        assert found["callback"] == {"attempts": 0, "success": False}
        assert agent_health(target)["dropped_results"] == 1
    else:
        found = wait_terminal(url, request_id)
        assert found["state"] == "completed" and found["claims"] == 1
        assert found["callback"]["success"] is True and found["callback"]["attempts"] >= 2
        assert agent_health(target)["dropped_results"] == 0


@pytest.mark.parametrize("broken", [False, True])
def test_break_expired_leases_not_requeued(target_factory, broken):
    target = target_factory(lease_s=1.5, break_expired_leases_not_requeued=broken)
    url = target.url
    request_id = submit(url, "lease-ws", "sleep 5")
    wait_until(lambda: status(target, request_id)["state"] == "processing", what="the claim")
    target.agent.kill()  # kill -9: its lease is never released
    target.restart("agent")
    after = submit(url, "lease-ws", "echo after")
    assert wait_terminal(url, after)["state"] == "completed"  # the new agent works
    if broken:
        time.sleep(6.0)  # four leases
        found = status(target, request_id)
        assert found["state"] == "processing" and found["claims"] == 1
    else:
        found = wait_terminal(url, request_id)
        assert found["state"] == "completed" and found["claims"] == 2


def received_seqs(target, repo, writes):
    ws_url = target.url.replace("http://", "ws://", 1) + "/ws"
    ws = websocket.create_connection(ws_url, timeout=10)
    try:
        ws.send(json.dumps({"op": "subscribe", "repos": [repo]}))
        assert json.loads(ws.recv())["type"] == "subscribed"
        for n in range(writes):
            created = httpx.post(f"{target.url}/repos/{repo}/tasks", json={"title": f"t{n}"})
            assert created.status_code == 201
        ws.send(json.dumps({"op": "ping"}))  # the pong comes after every event sent before it
        seqs = []
        while (event := json.loads(ws.recv()))["type"] != "pong":
            seqs.append(event["seq"])
        return seqs
    finally:
        ws.close()


@pytest.mark.parametrize("broken", [False, True])
def test_break_sync_event_dropped(target_factory, broken):
    target = target_factory(break_sync_event_dropped=broken)
    repo = f"drop-{uuid.uuid4().hex[:8]}"
    seqs = received_seqs(target, repo, 21)
    tasks = httpx.get(f"{target.url}/repos/{repo}/tasks").json()
    assert len(tasks["tasks"]) == 21 and tasks["seq"] == 21  # every write was committed
    if broken:
        assert seqs == [n for n in range(1, 22) if n % 10]
    else:
        assert seqs == list(range(1, 22))


def test_break_options_are_off_by_default_and_grouped_in_help():
    names = break_fields(TargetConfig) | break_fields(AgentConfig)
    assert names == {
        "break_expired_leases_not_requeued",
        "break_sync_event_dropped",
        "break_session_messages_reordered",
        "break_breaker_never_opens",
        "break_callbacks_not_retried",
    }
    assert not any(getattr(TargetConfig(), n, False) for n in names)
    assert not any(getattr(AgentConfig(), n, False) for n in names)
    parser = argparse.ArgumentParser()
    added = add_break_arguments(parser)
    assert set(added) == names
    text = parser.format_help()
    group = text.split(BREAK_GROUP, 1)[1]
    for name in names:
        assert "--" + name.replace("_", "-") in group
    assert group.count("BROKEN ON PURPOSE") == len(names)
    args = parser.parse_args(["--break-sync-event-dropped"])
    assert args.break_sync_event_dropped is True and args.break_breaker_never_opens is False


@pytest.mark.parametrize("cls", [TargetConfig, AgentConfig])
def test_bool_options_round_trip_through_argv(cls):
    on = {name: True for name in break_fields(cls)}
    config = cls(**on)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, cls)
    assert config_from_args(cls, parser.parse_args(to_argv(config))) == config
    default = cls()
    assert config_from_args(cls, parser.parse_args(to_argv(default))) == default


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"sync_max_changes": -1}, "--sync-max-changes"),
        ({"sync_max_changes": 0}, "--sync-max-changes"),
        ({"sync_max_body_bytes": -5}, "--sync-max-body-bytes"),
        ({"session_queue_limit": 0}, "--session-queue-limit"),
        ({"max_body_bytes": -1}, "--max-body-bytes"),
        ({"breaker_failures": -3}, "--breaker-failures"),
        ({"lease_s": float("nan")}, "--lease-s"),
    ],
)
def test_bad_option_values_fail_before_anything_starts(tmp_path, options, field):
    with pytest.raises(ConfigError) as info:
        start_target(tmp_path / "never", **options)
    assert info.value.field == field
    assert not (tmp_path / "never" / "logs").exists()


def test_cli_break_switch_reaches_the_process_and_warns(tmp_path):
    cmd = [sys.executable, "-m", "loadkit", "target", "--data-dir", str(tmp_path)]
    cmd += ["--break-sync-event-dropped", "--sync-max-changes", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip().split(" ", 1)[1]
        manifest = json.loads((tmp_path / "target.json").read_text())
        gateway_cmd, agent_cmd = manifest["gateway"]["cmd"], manifest["agent"]["cmd"]
        assert "--break-sync-event-dropped" in gateway_cmd
        assert "--no-break-session-messages-reordered" in gateway_cmd
        assert "--no-break-callbacks-not-retried" in agent_cmd
        changes = [{"title": str(n)} for n in range(4)]
        refused = httpx.post(f"{url}/repos/r/sync", json={"changes": changes})
        assert refused.status_code == 400 and refused.json()["field"] == "changes"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        stderr = proc.stderr.read()
        assert "deliberately broken: break_sync_event_dropped" in stderr
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_bad_new_option_is_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "loadkit", "target", "--sync-max-changes", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--sync-max-changes" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
