"""The target's tiny safe command language: parsed into typed objects, never a shell.

========================  =====================================================
``echo TEXT``             TEXT, kept intact (any characters, newlines too)
``sleep SECONDS``         empty, after SECONDS (interruptible)
``bytes N``               base64 of :func:`deterministic_bytes` ``(N)``
``set VAR=VALUE``         empty; VAR set in this workspace only
``get VAR``               the workspace's VALUE, or empty
``fail MESSAGE``          the job fails with ``error`` = MESSAGE
``cpu MILLISECONDS``      burns CPU for that long
``lines COUNT INTERVAL``  ``line 1\n`` … ``line COUNT\n``, one every INTERVAL
                          milliseconds (a long command with partial output)
========================  =====================================================

:func:`parse` rejects anything else with a :class:`CommandError` (a
:class:`~loadkit.errors.ConfigError`, answered as 400 by the gateway).
:func:`run` executes a parsed command inside the agent; cancelling the task
that runs it stops ``sleep``, ``cpu`` and ``lines`` at once; ``lines`` appends
each line to the caller's ``partial`` list as it prints it, so an interrupted
run still has what it produced so far.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from loadkit.errors import ConfigError

__all__ = [
    "MAX_BYTES",
    "MAX_CPU_MS",
    "MAX_SLEEP_S",
    "Bytes",
    "Command",
    "CommandError",
    "Cpu",
    "Echo",
    "Fail",
    "GetVar",
    "JobFailed",
    "Lines",
    "SetVar",
    "Sleep",
    "VarStore",
    "deterministic_bytes",
    "parse",
    "run",
]

MAX_BYTES = 64 * 1024 * 1024
MAX_SLEEP_S = 3600.0
MAX_CPU_MS = 60_000
MAX_LINES = 100_000
MAX_LINE_INTERVAL_MS = 60_000
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SEED = b"loadkit.target.commands.deterministic_bytes/v1"
VERBS = "echo, sleep, bytes, set, get, fail, cpu, lines"


class CommandError(ConfigError):
    """A command that does not parse (unknown verb, bad argument)."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem, field="command", fix=fix)


class JobFailed(Exception):
    """Raised by :func:`run` for ``fail MESSAGE``: the job ends ``failed``."""


@dataclass(frozen=True)
class Echo:
    text: str


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Bytes:
    count: int


@dataclass(frozen=True)
class SetVar:
    name: str
    value: str


@dataclass(frozen=True)
class GetVar:
    name: str


@dataclass(frozen=True)
class Fail:
    message: str


@dataclass(frozen=True)
class Cpu:
    milliseconds: int


@dataclass(frozen=True)
class Lines:
    count: int
    interval_ms: int


Command = Echo | Sleep | Bytes | SetVar | GetVar | Fail | Cpu | Lines


def deterministic_bytes(count: int) -> bytes:
    """``count`` pseudo-random bytes, always the same for the same ``count``.

    A pure function (SHAKE-256 of a fixed seed): clients import it to check the
    output of ``bytes N`` by length and sha256. ``deterministic_bytes(n)`` is
    a prefix of ``deterministic_bytes(n + k)``.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    return hashlib.shake_256(_SEED).digest(count) if count else b""


def _number(verb: str, arg: str, kind: Callable[[str], float], limit: float) -> float:
    try:
        value = kind(arg)
    except ValueError:
        raise CommandError(
            f"'{verb}' needs a number, got {arg!r:.40}", fix=f"write e.g. '{verb} 1'"
        ) from None
    if not 0 <= value <= limit:
        raise CommandError(f"'{verb} {arg:.20}' is out of range", fix=f"use 0 to {limit:g}")
    return value


def parse(text: str) -> Command:
    """Parse one command line into its typed object (or raise :class:`CommandError`)."""
    if not isinstance(text, str) or not text.strip():
        raise CommandError("the command is empty", fix=f"use one of: {VERBS}")
    verb, _, rest = text.lstrip().partition(" ")
    if "\n" in verb or "\t" in verb:
        verb = verb.split()[0]
        rest = text.lstrip()[len(verb) + 1 :]
    arg = rest.strip()
    if verb == "echo":
        return Echo(rest)
    if verb == "sleep":
        return Sleep(_number("sleep", arg, float, MAX_SLEEP_S))
    if verb == "bytes":
        return Bytes(int(_number("bytes", arg, int, MAX_BYTES)))
    if verb == "cpu":
        return Cpu(int(_number("cpu", arg, int, MAX_CPU_MS)))
    if verb == "fail":
        return Fail(arg or "failed on request")
    if verb == "lines":
        count, _, interval = arg.partition(" ")
        if not interval.strip():
            raise CommandError("'lines' needs COUNT INTERVAL_MS", fix="write e.g. 'lines 10 100'")
        return Lines(
            int(_number("lines", count, int, MAX_LINES)),
            int(_number("lines", interval.strip(), int, MAX_LINE_INTERVAL_MS)),
        )
    if verb in ("set", "get"):
        name, eq, value = (rest.lstrip() if verb == "set" else arg).partition("=")
        if not VAR_NAME.fullmatch(name):
            raise CommandError(
                f"'{verb}' needs a variable name like NAME_1, got {name!r:.40}",
                fix="write 'set X=1' or 'get X'",
            )
        if verb == "get":
            if eq:
                raise CommandError("'get' takes a name only", fix="write 'get X'")
            return GetVar(name)
        if not eq:
            raise CommandError("'set' needs NAME=VALUE", fix="write 'set X=1'")
        return SetVar(name, value)
    raise CommandError(f"unknown command {verb!r:.40}", fix=f"use one of: {VERBS}")


class VarStore(Protocol):
    """Per-workspace variables for ``set`` / ``get`` (see :mod:`.workspaces`)."""

    def get(self, workspace: str, name: str) -> str: ...

    def set(self, workspace: str, name: str, value: str) -> None: ...


def _burn(milliseconds: int, stop: threading.Event) -> None:
    deadline = time.monotonic() + milliseconds / 1000
    block = b"x" * 4096
    while time.monotonic() < deadline and not stop.is_set():
        for _ in range(50):
            block = hashlib.sha256(block).digest() * 128


def _encoded_bytes(count: int) -> str:
    return base64.b64encode(deterministic_bytes(count)).decode("ascii")


async def _lines(command: Lines, partial: list[str]) -> str:
    for number in range(1, command.count + 1):
        if number > 1:
            await asyncio.sleep(command.interval_ms / 1000)
        partial.append(f"line {number}\n")
    return "".join(partial)


async def run(
    command: Command, workspace: str, variables: VarStore, partial: list[str] | None = None
) -> str:
    """Execute ``command`` for ``workspace``; return its output or raise :class:`JobFailed`.

    ``partial`` collects the output printed so far by ``lines`` (for interrupts).
    """
    if isinstance(command, Lines):
        return await _lines(command, [] if partial is None else partial)
    if isinstance(command, Echo):
        return command.text
    if isinstance(command, Sleep):
        await asyncio.sleep(command.seconds)
        return ""
    if isinstance(command, Bytes):
        return await asyncio.to_thread(_encoded_bytes, command.count)
    if isinstance(command, SetVar):
        await asyncio.to_thread(variables.set, workspace, command.name, command.value)
        return ""
    if isinstance(command, GetVar):
        return await asyncio.to_thread(variables.get, workspace, command.name)
    if isinstance(command, Fail):
        raise JobFailed(command.message)
    stop = threading.Event()
    try:
        await asyncio.to_thread(_burn, command.milliseconds, stop)
    finally:
        stop.set()
    return ""
