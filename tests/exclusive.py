"""Run the suite on three pytest-xdist workers, timing-sensitive tests alone.

Most tests wait on real runs of a few seconds and can share the machine.
A test marked ``exclusive`` (it asserts a window or a duration within a
tolerance, or counts what is left on the machine) runs with nothing else:
every test holds a shared lock on one file while it runs, an exclusive test
holds it exclusively. A second file is a turnstile, so that a waiting
exclusive test is not starved by a stream of shared ones.

Without xdist (``pytest -p no:xdist`` or ``-n 0``) nothing is locked.

Files run in this order (xdist hands out whole files, ``--no-loadscope-reorder``):
files with exclusive tests first, so that they follow one another while nothing
else waits (each switch from shared tests to an exclusive one idles the other
workers until their current tests end), then the others, those with the most
``slow`` tests, then the most tests, first (long files last would leave a tail
on one worker). The order of the tests inside a file is kept.

With ``LOADKIT_LOCK_LOG=FILE`` each test appends one JSON line to ``FILE``: its
node id, worker, whether it is exclusive, and when it asked for the lock, got it
and let it go (``time.time()``); ``python .ci/lock_times.py FILE`` sums them up.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
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
def _held(exclusive: bool, nodeid: str) -> Iterator[None]:
    paths = _lock_paths()
    if paths is None:
        yield
        return
    asked = time.time()
    lock_path, turnstile_path = paths
    with open(lock_path, "a") as lock, open(turnstile_path, "a") as turnstile:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)  # holding the turnstile: no new shared holder
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        got = time.time()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            _log(nodeid, exclusive, asked, got, time.time())


def _log(nodeid: str, exclusive: bool, asked: float, got: float, released: float) -> None:
    path = os.environ.get("LOADKIT_LOCK_LOG")
    if not path:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    line = {"test": nodeid, "worker": worker, "exclusive": exclusive}
    line |= {"asked": asked, "got": got, "released": released}
    with open(path, "a") as log:  # one short line per write: appends do not interleave
        log.write(json.dumps(line) + "\n")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def key(group: list[pytest.Item]) -> tuple[bool, int, int]:
        def has(name: str) -> int:
            return sum(item.get_closest_marker(name) is not None for item in group)

        return (not has("exclusive"), -has("slow"), -len(group))

    items[:] = [item for group in sorted(files.values(), key=key) for item in group]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    # the whole protocol (set-up, call, tear-down), so a test's own target or
    # proxy starts and stops inside its turn
    with _held(item.get_closest_marker("exclusive") is not None, item.nodeid):
        return (yield)
