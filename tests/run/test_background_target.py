"""The built-in target of ``loadkit run`` starts and stops off the main thread (real processes)."""

from __future__ import annotations

import httpx
import psutil
import pytest

from loadkit.errors import ConfigError
from loadkit.run.target import BuiltinTarget
from loadkit.safety.janitor import Janitor


@pytest.fixture
def janitor():
    janitor = Janitor().start()
    try:
        yield janitor
    finally:
        janitor.cancel()


def test_the_url_is_known_at_once_and_the_target_answers_there_when_ready(janitor) -> None:
    target = BuiltinTarget({}, janitor)
    try:
        url, info = target.url, target.info  # before it is up: Locust and the proxy use them
        assert url.startswith("http://127.0.0.1:")
        target.wait_ready()
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert info.is_file()  # target.json: the faults and the metrics read it
        pids = [target._running.gateway.pid, target._running.agent.pid]  # type: ignore[union-attr]
        assert all(psutil.pid_exists(pid) for pid in pids)
    finally:
        assert target.wait_stopped() is True
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                   for pid in pids)  # fmt: skip
    assert not target.data_dir.exists()


def test_a_target_that_cannot_start_raises_in_the_caller_and_leaves_nothing(janitor) -> None:
    target = BuiltinTarget({"no_such_option": 1}, janitor)
    with pytest.raises(ConfigError, match="no_such_option"):
        target.wait_ready()
    assert target.wait_stopped() is False
    assert not target.data_dir.exists()
