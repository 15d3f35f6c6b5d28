"""The launcher API and ``loadkit target``: real processes, ports, manifests, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import httpx
import pytest
from test_jobs import submit, wait_terminal, wait_until

from loadkit.errors import ConfigError, TargetError
from loadkit.target.launcher import start_target


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie that is not reaped yet counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1].startswith("Z")
    except OSError:
        return True


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_start_target_writes_the_manifest(target):
    manifest = json.loads((target.data_dir / "target.json").read_text())
    assert manifest["data_dir"] == str(target.data_dir)
    for name, process in (("gateway", target.gateway), ("agent", target.agent)):
        entry = manifest[name]
        assert entry["pid"] == process.pid and entry["url"] == process.url
        assert entry["cmd"][:3] == [sys.executable, "-m", f"loadkit.target.{name}"]
        port = int(entry["url"].rsplit(":", 1)[1])
        assert port > 0 and entry["cmd"][entry["cmd"].index("--port") + 1] == str(port)
        assert httpx.get(f"{entry['url']}/health").status_code == 200
    assert target.url.startswith("http://127.0.0.1:")


def test_restart_keeps_port_and_data(target):
    request_id = submit(target.url, "restart-ws", "echo before")
    wait_terminal(target.url, request_id)
    old_pid, old_url = target.gateway.pid, target.url
    target.restart("gateway")
    assert target.url == old_url and target.gateway.pid != old_pid
    assert pid_gone(old_pid)
    manifest = json.loads((target.data_dir / "target.json").read_text())
    assert manifest["gateway"]["pid"] == target.gateway.pid
    answer = httpx.get(f"{target.url}/responses/{request_id}").json()
    assert answer["output"] == "before"
    with pytest.raises(ConfigError):
        target.restart("database")


def test_manifest_cmd_restarts_a_killed_process(target):
    """What the process fault backend does: kill -9, run ``cmd``, record the new pid."""
    manifest_path = target.data_dir / "target.json"
    manifest = json.loads(manifest_path.read_text())
    target.gateway.kill()
    proc = subprocess.Popen(
        manifest["gateway"]["cmd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        manifest["gateway"]["pid"] = proc.pid
        manifest_path.write_text(json.dumps(manifest))

        def healthy():
            try:
                return httpx.get(f"{target.url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, what="the gateway restarted from its cmd")
        request_id = submit(target.url, "cmd-ws", "echo via cmd")
        assert wait_terminal(target.url, request_id)["state"] == "completed"
        # The launcher stops the copy recorded in target.json too.
        target.stop()
        assert proc.wait(30) is not None
    finally:
        proc.kill()
        proc.wait(30)


def test_stop_ends_even_a_paused_process(target_factory):
    target = target_factory()
    pids = [target.gateway.pid, target.agent.pid]
    target.agent.signal(signal.SIGSTOP)
    target.stop()
    assert all(pid_gone(pid) for pid in pids)


def test_fixed_ports_are_used(target_factory):
    gateway_port, agent_port = free_port(), free_port()
    target = target_factory(port=gateway_port, agent_port=agent_port)
    assert target.url == f"http://127.0.0.1:{gateway_port}"
    assert target.agent_url == f"http://127.0.0.1:{agent_port}"


def test_a_taken_port_is_a_one_line_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(TargetError) as info:
            start_target(tmp_path, port=port)
    message = str(info.value)
    assert "already in use" in message and str(port) in message and "\n" not in message


def test_unknown_option_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        start_target(tmp_path, no_such_option=1)
    assert "no_such_option" in str(info.value)


def test_children_exit_when_the_launcher_is_killed(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, time
        from loadkit.target.launcher import start_target
        t = start_target({str(tmp_path)!r})
        print(t.gateway.pid, t.agent.pid, flush=True)
        time.sleep(120)
        """
    )
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in launcher.stdout.readline().split()]
        assert len(pids) == 2
        launcher.kill()
        launcher.wait()
        wait_until(lambda: all(pid_gone(p) for p in pids), timeout=30, what="orphans to exit")
    finally:
        launcher.kill()
        launcher.wait()
        launcher.stdout.close()


def run_cli(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "target", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_gateway_first_and_stops_on_signal(tmp_path, signum):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadkit",
            "target",
            "--data-dir",
            str(tmp_path),
            "--queue-limit",
            "7",
            "--cold-start-ms",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()
        second = proc.stdout.readline().strip()
        assert first.startswith("gateway: http://127.0.0.1:"), first
        assert second.startswith("agent: http://127.0.0.1:"), second
        url = first.split(" ", 1)[1]
        assert httpx.get(f"{url}/health").status_code == 200
        manifest = json.loads((tmp_path / "target.json").read_text())
        assert "--queue-limit" in manifest["gateway"]["cmd"]
        assert (
            manifest["gateway"]["cmd"][manifest["gateway"]["cmd"].index("--queue-limit") + 1] == "7"
        )
        proc.send_signal(signum)
        assert proc.wait(60) == 0
        pids = [manifest["gateway"]["pid"], manifest["agent"]["pid"]]
        wait_until(lambda: all(pid_gone(p) for p in pids), timeout=30, what="children to stop")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_refuses_non_loopback_without_the_flag():
    result = run_cli("--host", "0.0.0.0")
    assert result.returncode == 2
    assert "--allow-non-loopback" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_taken_port_is_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli("--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode != 0
    assert "already in use" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_bad_numbers_are_one_line():
    result = run_cli("--port", "70000")
    assert result.returncode == 2 and "--port" in result.stderr
    result = run_cli("--queue-limit", "-1")
    assert result.returncode == 2 and "--queue-limit" in result.stderr
