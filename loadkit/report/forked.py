"""Independent CPU-bound jobs (the report's figures) split between this process and forks.

Drawing a figure holds the GIL, so threads would not overlap; a forked child
inherits everything already imported and computed (matplotlib, the analysis)
and sends back only its results, pickled, through a pipe. This process does
its own share meanwhile. Whatever a child fails to deliver (it died, it
raised, or took far longer than this process's share) is done here again, so the
results are always complete and in order:

    pngs = map_forked(draw, figures)    # == [draw(f) for f in figures]
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["map_forked", "workers"]

MIN_WAIT_S = 10.0
T = TypeVar("T")
R = TypeVar("R")


def _green() -> bool:
    """True when gevent patched this process (Locust, the test suite): no forks, no threads."""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("threading"))


def workers() -> int:
    """Processes to share the jobs between (this one included): the CPUs we may use, at most 2."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


def _child(job: Callable[[T], R], items: Sequence[T], share: list[int], write_fd: int) -> None:
    """In the forked child: do ``share``, write {index: result}, exit without cleanup."""
    code = 1
    try:
        results = {index: job(items[index]) for index in share}
        data = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)
        code = 0
    finally:
        os._exit(code)  # never run the parent's atexit handlers or finalisers


def _read_all(fd: int, into: list[bytes]) -> None:
    with os.fdopen(fd, "rb") as pipe:
        into.append(pipe.read())


def map_forked(job: Callable[[T], R], items: Sequence[T], processes: int | None = None) -> list[R]:
    """``[job(item) for item in items]``, the items shared round-robin with forked children."""
    processes = workers() if processes is None else processes
    if processes <= 1 or len(items) < 2 or not hasattr(os, "fork") or _green():
        return [job(item) for item in items]
    shares = [list(range(k, len(items), processes)) for k in range(processes)]
    children: list[tuple[int, list[bytes], threading.Thread]] = []
    for share in shares[1:]:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            break
        if pid == 0:  # pragma: no cover (the child; measured by its results)
            os.close(read_fd)
            _child(job, items, share, write_fd)
        os.close(write_fd)
        received: list[bytes] = []  # read while the child writes (a full pipe would block it)
        reader = threading.Thread(target=_read_all, args=(read_fd, received), daemon=True)
        reader.start()
        children.append((pid, received, reader))
    began = time.monotonic()
    results: dict[int, R] = {index: job(items[index]) for index in shares[0]}
    # a child as slow as 3 of our shares (or 10 s) is given up: its share is done here
    deadline = time.monotonic() + max(MIN_WAIT_S, 3 * (time.monotonic() - began))
    for pid, received, reader in children:
        reader.join(max(0.0, deadline - time.monotonic()))
        if reader.is_alive():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) == 0 and received and received[0]:
            with contextlib.suppress(Exception):
                results.update(pickle.loads(received[0]))
    return [
        results[index] if index in results else job(items[index]) for index in range(len(items))
    ]
