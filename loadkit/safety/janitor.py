"""A detached janitor that cleans up after its owner once the owner is gone.

Children die with loadkit (see :mod:`loadkit._proc`), but some things outlive
a ``kill -9``: faults on things loadkit did not start (an app fault on your
service, a toxic on your Toxiproxy, a paused process), and temporary folders.
Before it makes any of them, an owner starts a janitor: a small process in
its own session, without a lifeline, holding the read end of a pipe whose
write end only the owner has. The owner tells it what to do if it dies
(``recover JOURNAL``, ``remove DIR``, one command a line); when the owner
ends, the pipe reaches EOF at once, whatever killed it:

- after ``cancel`` (the owner cleaned up itself) the janitor just exits;
- otherwise it reverts the faults of the named journals (their owner is gone)
  and removes the folders, then exits.

    janitor = Janitor().start()
    janitor.tell("remove", "/tmp/loadkit-run-abc")
    ...
    janitor.cancel()      # clean end: nothing to do
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from loadkit._proc import Child

__all__ = ["Janitor", "main"]

COMMANDS = ("recover", "remove", "cancel")
SETTLE_S = 0.3  # let children with a lifeline die before reverting what they touched


class Janitor:
    """The owner's side: start the janitor, tell it what to clean, cancel it."""

    def __init__(self) -> None:
        self._write: int | None = None
        self.child: Child | None = None

    def start(self) -> Janitor:
        read, write = os.pipe()
        argv = [sys.executable, "-m", "loadkit.safety.janitor", "--fd", str(read)]
        self.child = Child(argv, name="loadkit-janitor", lifeline=False, pass_fds=(read,))
        try:
            self.child.start()
        finally:
            os.close(read)
        self._write = write
        return self

    @property
    def pid(self) -> int:
        return self.child.pid if self.child is not None else 0

    def tell(self, command: str, argument: str = "") -> None:
        """Add ``command argument`` to what the janitor does if the owner dies."""
        if command not in COMMANDS or "\n" in argument:
            raise ValueError(f"bad janitor command {command!r} {argument!r}")
        if self._write is not None:
            with contextlib.suppress(OSError):
                os.write(self._write, f"{command} {argument}\n".encode())

    def cancel(self, wait_s: float = 5.0) -> None:
        """The owner cleaned up itself: the janitor exits without doing anything."""
        self.tell("cancel")
        self.close(wait_s)

    def close(self, wait_s: float = 5.0) -> None:
        """Close the pipe: what was told is done now (as if the owner died)."""
        if self._write is not None:
            with contextlib.suppress(OSError):
                os.close(self._write)
            self._write = None
        if self.child is not None and self.child.wait(wait_s) is None:
            self.child.kill()


def _read_commands(fd: int) -> list[tuple[str, str]]:
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    commands = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        command, _, argument = line.partition(" ")
        if command in COMMANDS:
            commands.append((command, argument))
    return commands


def clean(commands: list[tuple[str, str]]) -> None:
    """Do what the owner asked: revert journals first, then remove folders."""
    if any(command == "cancel" for command, _ in commands):
        return
    journals = [Path(arg) for command, arg in commands if command == "recover"]
    if journals:
        time.sleep(SETTLE_S)
        from loadkit.faults.journal import recover

        for result in recover(journals=journals, force=True):
            state = "reverted" if result.ok else (result.note or result.skipped or result.error)
            with contextlib.suppress(OSError):
                print(f"loadkit janitor: {result.name} ({result.kind}): {state}", file=sys.stderr)
    for command, arg in commands:
        if command == "remove" and arg:
            shutil.rmtree(arg, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadkit.safety.janitor")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    clean(_read_commands(args.fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
