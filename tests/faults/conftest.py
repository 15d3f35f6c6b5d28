"""Fixtures for the fault tests: a private journal index, a recorder, real processes."""

from __future__ import annotations

import subprocess

import pytest
from fault_helpers import FileRecorder, kill_tree


@pytest.fixture(autouse=True)
def fault_index(tmp_path, monkeypatch):
    """A private journal index for every test (never the user's ~/.loadkit).

    At the end no fault may be left journaled as active in it.
    """
    index = tmp_path / "fault-index"
    monkeypatch.setenv("LOADKIT_FAULTS_INDEX", str(index))
    yield index
    left = sorted(p.name for p in index.glob("*.journal")) if index.is_dir() else []
    assert not left, f"faults left active: {left}"


@pytest.fixture
def recorder(tmp_path):
    return FileRecorder(tmp_path / "run")


@pytest.fixture
def spawn():
    """Start real processes; every one is killed (with its children) at the end."""
    started: list[subprocess.Popen] = []

    def _spawn(args, **kwargs):
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        kill_tree(proc)


@pytest.fixture
def proxy_api():
    """A real ``loadkit proxy`` on a free loopback port; stopped at the end."""
    from loadkit.proxy.process import ProxyProcess

    with ProxyProcess() as proxy:
        yield proxy.api_url


@pytest.fixture
def proxied_target(target, proxy_api):
    """The real target behind a proxy named ``gw``: ``(proxy_url, client, target)``."""
    from loadkit.proxy.client import ToxiproxyClient

    client = ToxiproxyClient(proxy_api)
    upstream = target.url.removeprefix("http://")
    info = client.create_proxy("gw", "127.0.0.1:0", upstream)
    try:
        yield f"http://{info['listen']}", client, target
    finally:
        client.close()
