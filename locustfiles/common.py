"""Helpers shared by loadkit's locustfiles (imported as ``common``).

Locust puts a locustfile's folder first on ``sys.path`` while importing it,
so ``import common`` finds this module from any file in ``locustfiles/``.

- :func:`fire` reports one measured thing (a job, a session start, a
  notification) as a Locust request event of its own ``request_type``.
- :class:`CheckFailed` is raised by checks; :func:`checked` turns it into a
  failed event of the check's name so a broken expectation never kills a user.
- Argument parsers (``positive_float``...) give one-line argparse errors.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from locust.env import Environment

__all__ = [
    "PROCESS_TOKEN",
    "CheckFailed",
    "WebArguments",
    "checked",
    "fire",
    "int_list",
    "next_user_number",
    "non_negative_float",
    "positive_float",
    "positive_int",
    "setting",
    "typed",
    "ws_url",
]

# Unique per process: names built from it never collide across workers or runs.
PROCESS_TOKEN = f"{os.getpid():x}{uuid.uuid4().hex[:6]}"
_user_numbers: dict[str, itertools.count[int]] = {}


class CheckFailed(Exception):
    """A response did not meet an expectation (reported as a Locust failure)."""


def next_user_number(kind: str) -> int:
    """0, 1, 2... for the users of one kind started in this process.

    Counted per kind so that a share of one class (say, the sync writers) is
    spread over that class's users, however the classes are mixed.
    """
    return next(_user_numbers.setdefault(kind, itertools.count()))


def fire(
    environment: Environment,
    request_type: str,
    name: str,
    started: float,
    *,
    exception: BaseException | None = None,
    length: int = 0,
    response_time_ms: float | None = None,
) -> None:
    """Fire one request event; ``started`` is a ``time.perf_counter()`` value."""
    if response_time_ms is None:
        response_time_ms = (time.perf_counter() - started) * 1000.0
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=response_time_ms,
        response_length=length,
        exception=exception,
        context={},
    )


@contextmanager
def checked(environment: Environment, request_type: str, name: str) -> Iterator[None]:
    """Run a whole check; fire it as one event, failed if it raised :class:`CheckFailed`."""
    started = time.perf_counter()
    try:
        yield
    except CheckFailed as exc:
        fire(environment, request_type, name, started, exception=exc)
    else:
        fire(environment, request_type, name, started)


class WebArguments:
    """Adds custom arguments to Locust's parser, shown in the web UI and sent to workers.

    (Argument groups would lose Locust's ``include_in_web_ui``: only its own
    parser's ``add_argument`` knows it.)
    """

    def __init__(self, parser: Any) -> None:
        self.parser = parser

    def add_argument(self, *flags: str, **options: Any) -> None:
        options.setdefault("include_in_web_ui", True)
        self.parser.add_argument(*flags, **options)


def setting(environment: Environment, name: str, default: Any) -> Any:
    """A custom argument's value (``default`` when run without Locust's parser)."""
    options = environment.parsed_options
    return getattr(options, name, default) if options is not None else default


def ws_url(host: str, path: str = "/ws") -> str:
    """``http://h:p`` → ``ws://h:p/ws`` (``https`` → ``wss``)."""
    base = host.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + path
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + path
    raise CheckFailed(f"--host {host!r} is not an http(s) URL")


def typed(kind: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what
    return parse


positive_int = typed(int, lambda v: v > 0, "a whole number > 0")
non_negative_int = typed(int, lambda v: v >= 0, "a whole number >= 0")
positive_float = typed(float, lambda v: v > 0, "a number > 0")
non_negative_float = typed(float, lambda v: v >= 0, "a number >= 0")
probability = typed(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")


def _int_list(text: str) -> list[int]:
    return [int(part) for part in str(text).split(",") if part.strip()]


int_list = typed(
    _int_list, lambda v: bool(v) and all(n >= 0 for n in v), "a comma-separated list of sizes"
)
