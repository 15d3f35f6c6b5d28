"""Request events: the one way a user reports what it measured.

- :func:`fire` reports one measured thing (an HTTP call, a job, a session
  start, a notification) as a Locust request event of its own ``request_type``.
- :class:`CheckFailed` is raised by checks; :func:`checked` turns it into a
  failed event of the check's name, so a broken expectation never kills a user.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

__all__ = [
    "PROCESS_TOKEN",
    "CheckFailed",
    "RequestEventHook",
    "checked",
    "fire",
    "next_user_number",
]

# Unique per process: names built from it never collide across workers or runs.
PROCESS_TOKEN = f"{os.getpid():x}{uuid.uuid4().hex[:6]}"
_user_numbers: dict[str, itertools.count[int]] = {}


class RequestEventHook(Protocol):
    """What is needed of Locust's ``environment.events.request``."""

    def fire(self, *, reverse: bool = False, **kwargs: Any) -> None: ...


class CheckFailed(Exception):
    """A response did not meet an expectation (reported as a Locust failure).

    Not a :class:`~loadkit.errors.LoadkitError`: it never leaves a user, it
    becomes a failed request event.
    """


def next_user_number(kind: str) -> int:
    """0, 1, 2... for the users of one kind started in this process.

    Counted per kind so that a share of one class (say, the sync writers) is
    spread over that class's users, however the classes are mixed.
    """
    return next(_user_numbers.setdefault(kind, itertools.count()))


def fire(
    hook: RequestEventHook,
    request_type: str,
    name: str,
    started: float | None,
    *,
    exception: BaseException | str | None = None,
    length: int = 0,
    response_time_ms: float | None = None,
) -> None:
    """Fire one request event; ``started`` is a ``time.perf_counter()`` value.

    ``response_time_ms`` overrides the time measured from ``started``; with
    neither, the event has no response time (a request that never ran, such
    as a dropped iteration: Locust counts it apart from the timed ones).
    """
    if response_time_ms is None and started is not None:
        response_time_ms = (time.perf_counter() - started) * 1000.0
    hook.fire(
        request_type=request_type,
        name=name,
        response_time=response_time_ms,
        response_length=length,
        exception=exception,
        context={},
    )


@contextmanager
def checked(hook: RequestEventHook, request_type: str, name: str) -> Iterator[None]:
    """Run a whole check; fire it as one event, failed if it raised :class:`CheckFailed`."""
    started = time.perf_counter()
    try:
        yield
    except CheckFailed as exc:
        fire(hook, request_type, name, started, exception=exc)
    else:
        fire(hook, request_type, name, started)
