"""The independent dialect services (``tests/users/services/NAME.py``), started for a test.

One place for every test that aims loadkit at a service it does not ship
(tests/users, tests/scenario, tests/scenarios, tests/audit):

- :class:`DialectService`: ``DialectService("camel_gateway", "--lie")`` starts
  the service as its own process (own process group) on a free port of
  127.0.0.1 and returns once it listens; ``stop()`` ends that group. Also a
  context manager (``with DialectService(...) as service:``).
- fixtures (a pytest plugin, registered in tests/conftest.py): ``camel``,
  ``hermes`` and ``task_sync``, each a fresh service with no flags, stopped
  at the end of the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVICES = Path(__file__).resolve().parent / "users" / "services"
NAMES = ("camel_gateway", "hermes_sessions", "task_sync")

__all__ = ["NAMES", "SERVICES", "DialectService"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DialectService:
    """One dialect service as its own process on 127.0.0.1; ``url`` once it listens."""

    def __init__(self, name: str, *flags: str, start_timeout_s: float = 60.0) -> None:
        if name not in NAMES:
            raise ValueError(f"no dialect service {name!r} (one of {', '.join(NAMES)})")
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # stderr to a file, not a pipe nobody reads (a full pipe would block the service)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVICES / f"{name}.py"), str(self.port), *flags],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
        )
        deadline = time.monotonic() + start_timeout_s
        while not self._listening():
            if self.proc.poll() is not None:
                self._stderr.seek(0)
                tail = self._stderr.read()[-2000:].decode(errors="replace")
                self._stderr.close()
                raise AssertionError(f"{name} exited with {self.proc.returncode}: {tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{name} did not listen within {start_timeout_s:g} s")
            time.sleep(0.1)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM to the service's process group, SIGKILL after 10 s; idempotent."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._stderr.close()

    def __enter__(self) -> DialectService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@pytest.fixture
def camel() -> Iterator[DialectService]:
    """The camelCase workspace gateway (profile ``camel-gateway``)."""
    with DialectService("camel_gateway") as service:
        yield service


@pytest.fixture
def hermes() -> Iterator[DialectService]:
    """The session activation service behind ``/hermes`` (profile ``hermes-sessions``)."""
    with DialectService("hermes_sessions") as service:
        yield service


@pytest.fixture
def task_sync() -> Iterator[DialectService]:
    """The task sync service with its WebSocket (profile ``task-sync``)."""
    with DialectService("task_sync") as service:
        yield service
