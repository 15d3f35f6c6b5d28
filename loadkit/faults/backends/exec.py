"""``exec`` faults: a command on inject and one on revert.

For what no other backend does: a disk filled by a file in a folder, a
permission change, a stopped database, a scaled-down service::

    - name: disk-full
      at: 10s
      for: 20s
      kind: exec
      command: [fallocate, -l, 2G, /var/lib/app/fill]
      revert: [rm, -f, /var/lib/app/fill]
      timeout: 30s           # each command (default 30s)

Commands are argv lists run without a shell; a string runs through ``/bin/sh
-c`` only with ``shell: true``. ``cwd`` and ``env`` (added to loadkit's own
environment) are optional. Each command runs in its own process group, which
is killed when it outlives ``timeout``. A command that exits non-zero or times
out is a :class:`~loadkit.errors.FaultError` with the end of its output.

The revert needs nothing but the spec, so the journal lets ``loadkit faults
recover`` run it after a hard kill; a fault without ``revert`` is instant.
"""

from __future__ import annotations

import os
from typing import Any

from loadkit._proc import PIPE, Child
from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext
from loadkit.faults.model import FaultSpec

__all__ = ["ExecBackend", "run_command"]

OUTPUT_TAIL = 300


def _argv(command: list[str] | str, shell: bool) -> list[str]:
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return list(command)


def _tail(lines: list[str]) -> str:
    last = next((line.rstrip() for line in reversed(lines) if line.strip()), "")
    return last[-OUTPUT_TAIL:]


def run_command(
    command: list[str] | str,
    *,
    timeout_s: float,
    shell: bool = False,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    what: str = "command",
) -> None:
    """Run ``command`` to its end; FaultError when it fails, cannot start or times out."""
    argv = _argv(command, shell)
    child = Child(argv, name=what, stdout=PIPE, cwd=cwd, env={**os.environ, **(env or {})})
    try:
        child.start()
    except OSError as exc:
        raise FaultError(f"{what} {argv[0]!r} could not start: {exc.strerror or exc}") from None
    code = child.finish(timeout_s)
    if code is None:
        child.kill()  # the whole process group
        raise FaultError(f"{what} {argv[0]!r} did not finish within {timeout_s:g}s")
    if code != 0:
        tail = _tail(child.lines)
        raise FaultError(f"{what} {argv[0]!r} exited {code}" + (f": {tail}" if tail else ""))


class ExecBackend:
    """Runs the fault's commands."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context

    def describe(self, spec: FaultSpec) -> str:
        p = spec.params
        text = _show(p["command"])
        return f"run {text}" + (f"; revert: {_show(p['revert'])}" if p.get("revert") else "")

    def _run(self, spec: FaultSpec, key: str) -> None:
        p: dict[str, Any] = dict(spec.params)
        run_command(
            p[key],
            timeout_s=float(p.get("timeout") or 30.0),
            shell=bool(p.get("shell")),
            cwd=p.get("cwd"),
            env=p.get("env"),
            what=f"fault {spec.name}: {'revert' if key == 'revert' else 'command'}",
        )

    def inject(self, spec: FaultSpec) -> None:
        self._run(spec, "command")

    def revert(self, spec: FaultSpec) -> None:
        if spec.params.get("revert"):
            self._run(spec, "revert")


def _show(command: list[str] | str) -> str:
    return command if isinstance(command, str) else " ".join(command)
