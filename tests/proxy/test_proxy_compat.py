"""A real third-party Toxiproxy client (toxiproxy-python) drives ``loadkit proxy``.

Skipped, with the reason, when toxiproxy-python is not installed
(``pip install toxiproxy-python``).
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from urllib.parse import urlsplit

import pytest

from loadkit.proxy.process import ProxyProcess

toxiproxy = pytest.importorskip("toxiproxy", reason="toxiproxy-python is not installed")


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server():
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    with ProxyProcess() as proxy:
        url = urlsplit(proxy.api_url)
        api = toxiproxy.Toxiproxy()
        api.update_api_consumer(url.hostname, url.port)
        yield api, echo.server_address[1]
    echo.shutdown()
    echo.server_close()


def round_trip(address: tuple[str, int]) -> float:
    with socket.create_connection(address, timeout=30) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        return time.monotonic() - start


def test_toxiproxy_python_drives_every_feature(server):
    api, echo_port = server
    assert api.running() and api.version()
    proxy = api.create(upstream=f"127.0.0.1:{echo_port}", name="compat")
    try:
        with pytest.raises(toxiproxy.exceptions.ProxyExists):
            api.create(upstream=f"127.0.0.1:{echo_port}", name="compat")
        assert set(api.proxies()) == {"compat"} and proxy.enabled is True
        host, port = proxy.listen.rsplit(":", 1)
        address = (host, int(port))
        round_trip(address)
        proxy.add_toxic(type="latency", attributes={"latency": 300})
        (toxic,) = proxy.toxics().values()
        assert (toxic.name, toxic.stream, toxic.attributes["latency"]) == (
            "latency_downstream",
            "downstream",
            300,
        )
        assert round_trip(address) >= 0.3
        with pytest.raises(toxiproxy.exceptions.InvalidToxic):
            proxy.add_toxic(type="nosuch")
        proxy.destroy_toxic("latency_downstream")
        assert proxy.toxics() == {}
        with proxy.down(), pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=30).close()
        round_trip(address)
        proxy.add_toxic(type="timeout", attributes={"timeout": 0})
        assert api.reset() is True
        assert api.get_proxy("compat").enabled is True and proxy.toxics() == {}
    finally:
        api.destroy(proxy)
    assert api.proxies() == {}
