"""Shared fixtures: the real reference target (gateway + agent processes) on 127.0.0.1.

- ``target``: a fresh target per test, data dir under ``tmp_path``, always stopped.
- ``target_factory``: ``make(**options)`` for tests that need other settings
  (any field of ``TargetConfig`` / ``AgentConfig``, e.g. ``queue_limit=5``);
  every target it starts is stopped at the end of the test.
- ``shared_target``: one target for the whole session, for tests that only read
  or that use their own workspaces / repos (do not kill or pause it).

Timings are shortened (``FAST_OPTIONS``) so leases, backoff and the circuit
breaker play out in seconds.
"""

from __future__ import annotations

# Many tests import Locust, which monkey-patches the standard library with
# gevent when first imported. Do it here, before any test module imports
# threading, ssl or anyio: a module that captured the unpatched primitives
# first (Starlette's TestClient does, through anyio) deadlocks afterwards.
import os  # isort: skip

if os.environ.get("PYTEST_XDIST_WORKER"):  # isort: skip
    # Under pytest-xdist, execnet's I/O thread hands tests to the worker's
    # main thread through primitives it creates on demand; once gevent has
    # patched threading they would be greenlet primitives shared with a real
    # thread, and the worker dies with LoopExit (locust#3202). Keep those real.
    import execnet_real  # isort: skip

    execnet_real.keep_real_primitives()

import locust  # noqa: F401  # isort: skip

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loadkit.target.launcher import RunningTarget, start_target

pytest_plugins = ["exclusive", "dialect_services"]

FAST_OPTIONS: dict[str, Any] = {
    "lease_s": 3.0,
    "heartbeat_s": 0.2,
    "request_timeout_s": 2.0,
    "backoff_base_s": 0.05,
    "backoff_max_s": 0.5,
    "breaker_failures": 3,
    "breaker_open_s": 1.0,
    "agent_stale_s": 3.0,
    "cleanup_interval_s": 0.0,
}


@pytest.fixture
def target_factory(tmp_path: Path) -> Iterator[Callable[..., RunningTarget]]:
    started: list[RunningTarget] = []

    def make(**options: Any) -> RunningTarget:
        data_dir = tmp_path / f"target-{len(started)}"
        target = start_target(data_dir, **{**FAST_OPTIONS, **options})
        started.append(target)
        return target

    try:
        yield make
    finally:
        for target in started:
            target.stop()


@pytest.fixture
def target(target_factory: Callable[..., RunningTarget]) -> RunningTarget:
    return target_factory()


@pytest.fixture(scope="session")
def shared_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    target = start_target(tmp_path_factory.mktemp("shared-target"), **FAST_OPTIONS)
    try:
        yield target
    finally:
        target.stop()


STALL_SERVER = Path(__file__).parent / "report" / "stall_server.py"


@pytest.fixture
def stall_server(tmp_path: Path) -> Iterator[Callable[..., tuple[str, Path]]]:
    """``start(stall_from_s, hold_s, slope, base_ms)`` -> (URL, arrivals log) of a loopback
    server that answers in ``base_ms`` and holds requests from ``stall_from_s`` on
    (tests/report/stall_server.py); every server started is stopped after the test."""
    servers: list[subprocess.Popen[str]] = []

    def start(stall_from_s: float, hold_s: float, slope: float, base_ms: float) -> tuple[str, Path]:
        log = tmp_path / f"arrivals-{len(servers)}.txt"
        proc = subprocess.Popen(
            [sys.executable, str(STALL_SERVER), str(log),
             *(str(x) for x in (stall_from_s, hold_s, slope, base_ms))],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        servers.append(proc)
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("port: "), line
        return f"http://127.0.0.1:{int(line.split()[1])}", log

    yield start
    for proc in servers:
        proc.terminate()
        proc.wait(timeout=10)
