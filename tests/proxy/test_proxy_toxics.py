"""The proxy's data path, through a real ``loadkit proxy`` process and real sockets.

An in-process threaded echo server on 127.0.0.1:0 is the upstream. Timing is
only ever checked as a lower bound ("took at least the latency"); "a toxic
stopped applying" is checked with toxics so large (100 s) that data arriving
within a generous deadline proves it.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
import uuid

import httpx
import pytest

from loadkit.proxy import ToxiproxyClient
from loadkit.proxy.process import ProxyProcess
from loadkit.proxy.proxy import ProxyCollection

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

DEADLINE_S = 30.0  # generous: the machine is shared and loaded
HUGE_MS = 100_000  # a toxic this large cannot be what let data through in time


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        try:
            while data := conn.recv(1 << 16):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def echo_port():
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client():
    with ProxyProcess() as proxy, ToxiproxyClient(proxy.api_url) as api:
        yield api


@pytest.fixture
def proxy(client, echo_port):
    """A fresh proxy to the echo server: (name, (host, port))."""
    name = f"echo-{uuid.uuid4().hex[:8]}"
    info = client.create_proxy(name, "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    host, port = info["listen"].rsplit(":", 1)
    yield name, (host, int(port))
    client.delete_proxy(name)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=DEADLINE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(1 << 20, size - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(1 << 20):
        data += chunk
    return bytes(data)


def assert_closed(sock: socket.socket) -> None:
    """The proxy closed ``sock``: EOF with no data, or a reset."""
    try:
        data = recv_all(sock)
    except ConnectionResetError:
        return
    assert data == b""


def send_in_background(sock: socket.socket, payload: bytes, *, close: bool = True) -> None:
    def send() -> None:
        try:
            sock.sendall(payload)
            if close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=send, daemon=True).start()


def round_trip(sock: socket.socket, message: bytes = b"ping") -> float:
    start = time.monotonic()
    sock.sendall(message)
    assert recv_exactly(sock, len(message)) == message
    return time.monotonic() - start


def test_no_toxic_passes_a_large_payload_intact_both_ways(proxy):
    _, address = proxy
    payload = bytes(range(256)) * 40_000 + b"end"  # ~10 MB, not a multiple of any buffer
    with connect(address) as sock:
        send_in_background(sock, payload)
        assert recv_all(sock) == payload  # EOF came back too: the half-close was passed on


def test_latency_delays_live_connections_and_stops_when_removed(client, proxy):
    name, address = proxy
    with connect(address) as sock:
        round_trip(sock)  # the connection exists before the toxic
        toxic = client.add_toxic(name, "latency", {"latency": 400})
        assert round_trip(sock) >= 0.4
        with connect(address) as fresh:
            assert round_trip(fresh) >= 0.4
        client.remove_toxic(name, toxic)
        client.add_toxic(name, "latency", {"latency": HUGE_MS}, name="huge")
        sock.sendall(b"held")  # held by the 100 s latency ...
        client.remove_toxic(name, "huge")
        assert recv_exactly(sock, 4) == b"held"  # ... and released at once by the removal
        round_trip(sock)  # well within DEADLINE_S << 100 s: no latency left


def test_bytes_read_before_the_queue_drains_wait_behind_it(echo_port):
    """A toxic removed with bytes still queued: the link stays off the plain copy
    until its pump has written them, so later bytes cannot overtake them."""

    async def scenario() -> bytes:
        collection = ProxyCollection()
        proxy, _ = collection.new_proxy(
            {"name": "order", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"}
        )
        await collection.add(proxy, True)
        host, port = proxy.listen.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"ping")  # the connection runs on the no-toxic path first
            assert await asyncio.wait_for(reader.readexactly(4), DEADLINE_S) == b"ping"
            proxy.add_toxic({"type": "latency", "attributes": {"latency": HUGE_MS}})
            writer.write(b"first")
            (connection,) = proxy.connections
            downstream = connection.links["downstream"]
            deadline = time.monotonic() + DEADLINE_S
            while not downstream.pumping and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # the echo of "first" waits behind the toxic
            proxy.remove_toxic("latency_downstream")
            # The server's next bytes, read before the pump has run again (the loop may
            # order these callbacks so): a simulated read, the one thing not real here.
            assert connection.upstream is not None
            connection.upstream.data_received(b"second")
            return await asyncio.wait_for(reader.readexactly(11), DEADLINE_S)
        finally:
            writer.close()
            await collection.close_all()

    assert asyncio.run(scenario()) == b"firstsecond"


def test_updating_a_toxic_applies_to_live_connections(client, proxy):
    name, address = proxy
    with connect(address) as sock:
        round_trip(sock)
        client.add_toxic(name, "latency", {"latency": HUGE_MS})
        sock.sendall(b"held")  # held by the 100 s latency ...
        updated = httpx.post(  # updates are not part of ToxiproxyClient's API
            f"{client.api_url}/proxies/{name}/toxics/latency_downstream",
            json={"attributes": {"latency": 0}},
            trust_env=False,
        )
        assert updated.status_code == 200
        assert recv_exactly(sock, 4) == b"held"  # ... released by the update


def test_changing_the_upstream_restarts_the_proxy(client, proxy, echo_port):
    name, address = proxy
    with connect(address) as sock:
        round_trip(sock)
        moved = httpx.post(
            f"{client.api_url}/proxies/{name}",
            json={"upstream": f"localhost:{echo_port}"},
            trust_env=False,
        )
        assert moved.status_code == 200 and moved.json()["upstream"] == f"localhost:{echo_port}"
        assert_closed(sock)  # Toxiproxy drops connections when upstream or listen change
    with connect(address) as sock:
        round_trip(sock)


def test_upstream_latency_applies_to_the_request_direction(client, proxy):
    name, address = proxy
    client.add_toxic(name, "latency", {"latency": 300}, stream="upstream")
    with connect(address) as sock:
        assert round_trip(sock) >= 0.29  # 300 ms, less the event loop's timer granularity


def test_bandwidth_limits_throughput_and_keeps_every_byte(client, proxy):
    name, address = proxy
    payload = bytes(range(256)) * 1200  # 307 200 bytes: >= ~3 s at 100 KB/s
    with connect(address) as sock:
        round_trip(sock)  # the connection exists before the toxic
        client.add_toxic(name, "bandwidth", {"rate": 100})  # 100 KB/s downstream
        start = time.monotonic()
        send_in_background(sock, payload)
        assert recv_all(sock) == payload
        assert time.monotonic() - start >= 2.5


def test_timeout_zero_holds_data_until_removed_then_closes(client, proxy):
    name, address = proxy
    with connect(address) as sock:
        round_trip(sock)  # the connection exists before the toxic
        client.add_toxic(name, "timeout", {"timeout": 0})
        sock.sendall(b"dropped")
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # nothing comes back while the toxic holds
        sock.settimeout(DEADLINE_S)
        client.remove_toxic(name, "timeout_downstream")
        assert recv_all(sock) == b""  # removal closes what it held, as Toxiproxy does


def test_timeout_closes_the_connection_after_the_timeout(client, proxy):
    name, address = proxy
    client.add_toxic(name, "timeout", {"timeout": 300})
    start = time.monotonic()  # before connecting: the timer cannot start earlier
    with connect(address) as sock:
        sock.sendall(b"dropped")
        assert recv_all(sock) == b""  # closed, and the echo never arrived
        assert time.monotonic() - start >= 0.3


def test_reset_peer_resets_the_client(client, proxy):
    name, address = proxy
    client.add_toxic(name, "reset_peer", {"timeout": 0})
    with connect(address) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            while sock.recv(100):
                pass


def test_slicer_delivers_every_byte(client, proxy):
    name, address = proxy
    client.add_toxic(name, "slicer", {"average_size": 64, "size_variation": 32, "delay": 10})
    payload = bytes(range(256)) * 200
    with connect(address) as sock:
        send_in_background(sock, payload)
        assert recv_all(sock) == payload


def test_limit_data_closes_after_the_limit(client, proxy):
    name, address = proxy
    client.add_toxic(name, "limit_data", {"bytes": 1000})
    with connect(address) as sock:
        send_in_background(sock, b"x" * 5000, close=False)
        assert recv_all(sock) == b"x" * 1000


def test_slow_close_delays_the_close(client, proxy):
    name, address = proxy
    client.add_toxic(name, "slow_close", {"delay": 500})
    with connect(address) as sock:
        sock.sendall(b"bye")
        start = time.monotonic()  # the echo server's close can only follow ours
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b"bye"
        assert time.monotonic() - start >= 0.5


def test_toxicity_zero_never_applies(client, proxy):
    name, address = proxy
    client.add_toxic(name, "latency", {"latency": HUGE_MS}, toxicity=0.0)
    with connect(address) as sock:
        round_trip(sock)  # in time: the 100 s latency was not drawn for this connection


def test_down_closes_connections_and_refuses_new_ones_until_enabled(client, proxy):
    name, address = proxy
    with connect(address) as sock:
        round_trip(sock)
        assert client.set_enabled(name, False)["enabled"] is False
        assert_closed(sock)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=DEADLINE_S).close()
    assert client.set_enabled(name, True)["listen"] == f"{address[0]}:{address[1]}"
    with connect(address) as sock:
        round_trip(sock)


def test_reset_enables_all_and_removes_every_toxic(client, proxy):
    name, address = proxy
    client.add_toxic(name, "latency", {"latency": HUGE_MS})
    client.add_toxic(name, "timeout", {"timeout": 0}, stream="upstream")
    client.set_enabled(name, False)
    client.reset()
    info = client.get_proxy(name)
    assert info["enabled"] is True and info["toxics"] == []
    with connect(address) as sock:
        round_trip(sock)


def test_unreachable_upstream_closes_the_client(client):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead_port = free.getsockname()[1]  # bound but never listening: refused
        info = client.create_proxy("dead-upstream", "127.0.0.1:0", f"127.0.0.1:{dead_port}")
        try:
            host, port = info["listen"].rsplit(":", 1)
            with connect((host, int(port))) as sock:
                assert_closed(sock)
        finally:
            client.delete_proxy("dead-upstream")
