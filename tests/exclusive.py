"""Run the suite on three pytest-xdist workers, timing-sensitive tests alone.

Most tests wait on real runs of a few seconds and can share the machine.
A test marked ``exclusive`` (it asserts a window or a duration within a
tolerance, or counts what is left on the machine) runs with nothing else:
every test holds a shared lock on one file while it runs, an exclusive test
holds it exclusively. A second file is a turnstile, so that a waiting
exclusive test is not starved by a stream of shared ones.

Without xdist (``pytest -p no:xdist`` or ``-n 0``) nothing is locked.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _lock_paths() -> tuple[Path, Path] | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not os.environ.get("PYTEST_XDIST_WORKER") or not run:
        return None
    base = Path(tempfile.gettempdir()) / f"pytest-exclusive-{run}"
    return base.with_suffix(".lock"), base.with_suffix(".turnstile")


@contextmanager
def _held(exclusive: bool) -> Iterator[None]:
    paths = _lock_paths()
    if paths is None:
        yield
        return
    lock_path, turnstile_path = paths
    with open(lock_path, "a") as lock, open(turnstile_path, "a") as turnstile:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)  # holding the turnstile: no new shared holder
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    # the whole protocol (set-up, call, tear-down), so a test's own target or
    # proxy starts and stops inside its turn
    with _held(item.get_closest_marker("exclusive") is not None):
        return (yield)
