"""The proxy undoes the faults of an owner process that is gone (a killed run).

Everything is real: a ``loadkit proxy`` process, an HTTP upstream on
127.0.0.1, owner processes started here and killed with SIGKILL. The witness is
independent of the proxy's API: the time of real requests through the proxy
(a latency toxic of 600 ms makes every request take at least that long).
"""

from __future__ import annotations

import http.client
import http.server
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import httpx
import pytest

from loadkit.proxy import ToxiproxyClient
from loadkit.proxy.owner import Owner, local_scope
from loadkit.proxy.process import ProxyProcess

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

LATENCY_MS = 600
FAST_S = 0.3  # a request this fast did not go through the 600 ms toxic
BACK_WITHIN_S = 2.0  # the proxy watches owners every 0.5 s
WAIT_S = 60.0  # generous, for waiting only (the machine is shared)


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api():
    with ProxyProcess() as proxy, ToxiproxyClient(proxy.api_url) as client:
        yield client


@pytest.fixture
def make_proxy(api, upstream):
    """Create proxies to the upstream: returns (name, (host, port)); deleted afterwards."""
    names: list[str] = []

    def make() -> tuple[str, tuple[str, int]]:
        name = f"up-{uuid.uuid4().hex[:8]}"
        info = api.create_proxy(name, "127.0.0.1:0", upstream)
        names.append(name)
        host, port = info["listen"].rsplit(":", 1)
        return name, (host, int(port))

    yield make
    for name in names:
        api.delete_proxy(name)


@pytest.fixture
def sleeper():
    """Start processes that just sleep (owners); all are killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def request_s(address: tuple[str, int]) -> float:
    """Seconds for one GET through the proxy, on a new connection."""
    began = time.perf_counter()
    conn = http.client.HTTPConnection(*address, timeout=WAIT_S)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b"ok"
    finally:
        conn.close()
    return time.perf_counter() - began


def latency(api: ToxiproxyClient, proxy: str, owner: Owner | None) -> None:
    api.add_toxic(
        proxy,
        "latency",
        {"latency": LATENCY_MS, "jitter": 0},
        name="slow",
        owner=None if owner is None else owner.to_json(),
    )


def seconds_until_fast(address: tuple[str, int], since: float) -> float:
    """Seconds from ``since`` to the end of the first request that was fast (an upper bound
    of when the toxic stopped applying)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if request_s(address) < FAST_S:
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"still slow {WAIT_S:.0f}s after the owner was killed")


def test_toxics_of_a_killed_owner_are_removed_others_stay(api, make_proxy, sleeper):
    doomed_proxy, doomed_address = make_proxy()
    kept_proxy, kept_address = make_proxy()
    plain_proxy, plain_address = make_proxy()
    doomed, live = sleeper(), sleeper()
    latency(api, doomed_proxy, Owner.of(doomed.pid))
    latency(api, kept_proxy, Owner.of(live.pid))
    latency(api, plain_proxy, None)  # a Toxiproxy client: no owner, stays until removed
    for address in (doomed_address, kept_address, plain_address):
        assert request_s(address) >= LATENCY_MS / 1000  # the toxics apply
    assert api.list_toxics(doomed_proxy)[0]["owner"]["pid"] == doomed.pid
    assert "owner" not in api.list_toxics(plain_proxy)[0]

    killed = time.monotonic()
    doomed.kill()  # kill -9; not reaped yet: a zombie is gone too
    back_s = seconds_until_fast(doomed_address, killed)
    print(f"latency back to normal {back_s:.2f}s after the kill")
    assert back_s <= BACK_WITHIN_S, back_s
    assert api.list_toxics(doomed_proxy) == []

    time.sleep(max(0.0, killed + BACK_WITHIN_S - time.monotonic()))  # 4 watches later...
    assert [t["name"] for t in api.list_toxics(kept_proxy)] == ["slow"]
    assert [t["name"] for t in api.list_toxics(plain_proxy)] == ["slow"]
    assert request_s(kept_address) >= LATENCY_MS / 1000
    assert request_s(plain_address) >= LATENCY_MS / 1000


def test_toxics_added_by_the_fault_backend_end_with_the_process_that_added_them(
    api, make_proxy, tmp_path
):
    """The real path: a process injects a proxy fault through ProxyBackend, then is killed."""
    proxy, address = make_proxy()
    ready = tmp_path / "injected"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from loadkit.faults.backends.base import BackendContext
        from loadkit.faults.backends.proxy import ProxyBackend
        from loadkit.faults.model import parse_faults
        spec = parse_faults([{{"name": "net", "at": 0, "kind": "latency", "via": "proxy",
                               "latency": "{LATENCY_MS}ms", "proxy": "{proxy}"}}], "test")[0]
        ProxyBackend(BackendContext(proxy_api="{api.api_url}")).inject(spec)
        pathlib.Path({str(ready)!r}).touch()
        time.sleep(300)
        """
    )
    injector = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + WAIT_S
        while not ready.exists():
            assert injector.poll() is None, "the injecting process died"
            assert time.monotonic() < deadline, "no inject within the wait"
            time.sleep(0.05)
        (toxic,) = api.list_toxics(proxy)
        assert toxic["name"] == "loadkit-net"
        assert toxic["owner"] == Owner.of(injector.pid).to_json()
        assert request_s(address) >= LATENCY_MS / 1000
        killed = time.monotonic()
        injector.kill()
        injector.wait()
        back_s = seconds_until_fast(address, killed)
        print(f"latency back to normal {back_s:.2f}s after the kill")
        assert back_s <= BACK_WITHIN_S, back_s
        assert api.list_toxics(proxy) == []
    finally:
        injector.kill()
        injector.wait()


def test_a_proxy_disabled_by_a_killed_owner_is_enabled_again(api, make_proxy, sleeper):
    proxy, address = make_proxy()
    owner = sleeper()
    api.set_enabled(proxy, False, owner=Owner.of(owner.pid).to_json())
    with pytest.raises(ConnectionRefusedError):
        request_s(address)
    assert api.get_proxy(proxy)["disabled_by"]["pid"] == owner.pid
    killed = time.monotonic()
    owner.kill()
    owner.wait()
    back_s = seconds_until_fast_or_refused(address, killed)
    print(f"proxy enabled again {back_s:.2f}s after the kill")
    assert back_s <= BACK_WITHIN_S, back_s
    info = api.get_proxy(proxy)
    assert info["enabled"] is True and "disabled_by" not in info


def seconds_until_fast_or_refused(address: tuple[str, int], since: float) -> float:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            request_s(address)
            return time.monotonic() - since
        except ConnectionRefusedError:
            time.sleep(0.05)
    raise AssertionError(f"still refused {WAIT_S:.0f}s after the owner was killed")


def test_an_owner_is_gone_when_dead_a_zombie_or_its_pid_reused_never_when_unseen(sleeper):
    proc = sleeper()
    owner = Owner.of(proc.pid)
    assert owner.scope == local_scope() != ""
    assert not owner.gone()
    # the same pid with another start time is another process (a reused pid)
    assert Owner(proc.pid, owner.started - 100.0, owner.scope).gone()
    # a scope the proxy cannot see (another machine or pid namespace): never dropped
    assert not Owner(proc.pid, owner.started - 100.0, "other-boot/pid:[1]").gone()
    proc.kill()
    deadline = time.monotonic() + WAIT_S
    while not owner.gone():  # a zombie (not reaped yet) counts as gone
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.wait()
    assert owner.gone()
    assert not Owner(proc.pid, owner.started, "").gone()  # no scope: unseen, kept
    assert Owner.this_process().pid == os.getpid()


@pytest.mark.parametrize(
    "owner",
    [{"pid": "1"}, {"pid": 0, "started": 1.0, "scope": "x"}, [1], "me", {"pid": 1, "scope": "x"}],
)
def test_a_malformed_owner_is_a_400(api, make_proxy, owner):
    proxy, _ = make_proxy()
    response = httpx.post(
        f"{api.api_url}/proxies/{proxy}/toxics",
        json={"type": "latency", "attributes": {"latency": 1}, "owner": owner},
        headers={"User-Agent": "test"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("bad request body: owner must be")
    assert api.list_toxics(proxy) == []
    disable = httpx.post(
        f"{api.api_url}/proxies/{proxy}",
        json={"enabled": False, "owner": owner},
        headers={"User-Agent": "test"},
    )
    assert disable.status_code == 400, disable.text
    assert api.get_proxy(proxy)["enabled"] is True
