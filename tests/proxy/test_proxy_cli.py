"""``loadkit proxy`` as a user runs it: flags, --config, bad input, signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest

from loadkit.proxy import ToxiproxyClient
from loadkit.proxy.process import ProxyProcess

TIMEOUT_S = 60


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_config_file_creates_proxies_at_start(tmp_path):
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [
                {"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"},
                {
                    "name": "cache",
                    "listen": "127.0.0.1:0",
                    "upstream": "127.0.0.1:6379",
                    "enabled": False,
                },
            ]
        )
    )
    with ProxyProcess(config=config) as proxy, ToxiproxyClient(proxy.api_url) as client:
        proxies = client.list_proxies()
        assert sorted(proxies) == ["cache", "db"]
        assert proxies["db"]["enabled"] is True and proxies["cache"]["enabled"] is False


def test_bad_port_is_one_line_exit_2():
    assert_one_line_error(run_cli("--port", "70000"), "--port", "70000")


def test_bad_config_json_names_file_and_line(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text('[\n  {"name": "db",\n  oops}\n]\n')
    assert_one_line_error(run_cli("--port", "0", "--config", str(config)), f"{config}:3")


def test_config_without_upstream_is_one_line(tmp_path):
    config = tmp_path / "noup.json"
    config.write_text(json.dumps([{"name": "db", "listen": "127.0.0.1:0"}]))
    proc = run_cli("--port", "0", "--config", str(config))
    assert_one_line_error(proc, str(config), "missing required field: upstream")


def test_missing_config_file_is_one_line(tmp_path):
    assert_one_line_error(
        run_cli("--port", "0", "--config", str(tmp_path / "none.json")), "none.json"
    )


def test_api_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line_error(run_cli("--port", str(port)), "--port", str(port))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_closes_proxies_and_exits_0(signum):
    proxy = ProxyProcess()
    proxy.start()
    try:
        with ToxiproxyClient(proxy.api_url) as client:
            listen = client.create_proxy("p", "127.0.0.1:0", "127.0.0.1:9")["listen"]
        host, port = listen.rsplit(":", 1)
        assert proxy.process is not None
        proxy.process.send_signal(signum)
        assert proxy.process.wait(TIMEOUT_S) == 0, proxy.stderr()
        assert "Traceback" not in proxy.stderr()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=TIMEOUT_S).close()
    finally:
        proxy.stop()
