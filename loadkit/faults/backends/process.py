"""Process faults for local processes: pause, kill, terminate, restart.

The target is one of:

- ``target: gateway`` (or ``agent``): looked up in the reference target's
  ``target.json`` (``--loadkit-target-info``), which also gives the command
  that starts it again;
- ``pid: 1234``;
- ``pidfile: /run/app.pid``.

``pause`` sends SIGSTOP and its revert SIGCONT. ``kill`` (SIGKILL) and
``terminate`` (SIGTERM) are reverted by starting the process again when a
command is known (``command:``, or the target's ``cmd``), and ``restart``
stops and starts it at once (nothing to revert). A restarted target's new pid
is written back to ``target.json`` so later faults and ``recover`` find it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext, FaultBackend
from loadkit.faults.model import FaultSpec

__all__ = ["ProcessBackend", "ProcessTarget"]

STOP_WAIT_S = 10.0
READY_WAIT_S = 30.0


@dataclass(frozen=True)
class ProcessTarget:
    label: str
    pid: int
    command: list[str] | None
    url: str | None = None
    info_key: str | None = None  # the key in target.json, when it came from there


class ProcessBackend(FaultBackend):
    """Signals and restarts local processes."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context

    def describe(self, spec: FaultSpec) -> str:
        action = {
            "pause": "SIGSTOP (revert: SIGCONT)",
            "kill": "SIGKILL (revert: start again)",
            "terminate": "SIGTERM (revert: start again)",
            "restart": "SIGTERM then start again",
        }[spec.kind]
        return f"{action} {spec.target}"

    # -- resolving ---------------------------------------------------------------

    def _target_info(self) -> tuple[Path, dict[str, Any]]:
        if not self.context.target_info:
            raise FaultError("no target.json: pass --loadkit-target-info PATH to name 'target:'")
        path = Path(self.context.target_info)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FaultError(f"cannot read target info {path}: {exc}") from None
        return path, data

    def resolve(self, spec: FaultSpec) -> ProcessTarget:
        params = spec.params
        command = params.get("command")
        if params.get("target"):
            path, data = self._target_info()
            entry = data.get(params["target"])
            if not isinstance(entry, dict) or "pid" not in entry:
                raise FaultError(f"{path} has no process {params['target']!r}")
            return ProcessTarget(
                label=params["target"],
                pid=int(entry["pid"]),
                command=command or entry.get("cmd"),
                url=entry.get("url"),
                info_key=params["target"],
            )
        if params.get("pid") is not None:
            return ProcessTarget(f"pid {params['pid']}", int(params["pid"]), command)
        try:
            pid = int(Path(params["pidfile"]).read_text().strip())
        except (OSError, ValueError) as exc:
            raise FaultError(f"cannot read pidfile {params['pidfile']}: {exc}") from None
        return ProcessTarget(f"pidfile {params['pidfile']}", pid, command)

    # -- actions ------------------------------------------------------------------

    def inject(self, spec: FaultSpec) -> None:
        target = self.resolve(spec)
        if spec.kind == "pause":
            _signal(target, signal.SIGSTOP)
        elif spec.kind == "kill":
            _signal(target, signal.SIGKILL)
            _wait_gone(target)
        elif spec.kind == "terminate":
            _stop(target)
        elif spec.kind == "restart":
            _stop(target)
            self._start(target)

    def revert(self, spec: FaultSpec) -> None:
        target = self.resolve(spec)
        if spec.kind == "pause":
            _signal(target, signal.SIGCONT)
        elif spec.kind in ("kill", "terminate"):
            if _alive(target.pid):
                return  # already back (restarted by someone else)
            if not target.command:
                raise FaultError(f"{target.label} stays down: no command known to start it again")
            self._start(target)

    def _start(self, target: ProcessTarget) -> None:
        assert target.command is not None
        info = self.context.target_info
        log_dir = Path(info).parent if info and target.info_key else None
        log_path = (log_dir / f"{target.info_key}.restart.log") if log_dir else None
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                target.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise FaultError(f"cannot start {target.label}: {exc}") from None
        finally:
            if log_path and not isinstance(out, int):
                out.close()
        if target.info_key:
            self._record_pid(target.info_key, proc.pid)
        if target.url:
            _wait_listening(target, proc)

    def _record_pid(self, key: str, pid: int) -> None:
        path, data = self._target_info()
        data[key]["pid"] = pid
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(target: ProcessTarget, signum: int) -> None:
    try:
        os.kill(target.pid, signum)
    except ProcessLookupError:
        raise FaultError(f"{target.label} (pid {target.pid}) is not running") from None
    except PermissionError:
        raise FaultError(f"not allowed to signal {target.label} (pid {target.pid})") from None


def _wait_gone(target: ProcessTarget, timeout: float = STOP_WAIT_S) -> bool:
    try:
        psutil.Process(target.pid).wait(timeout)
    except psutil.TimeoutExpired:
        return False
    except psutil.Error:
        pass
    return True


def _stop(target: ProcessTarget) -> None:
    _signal(target, signal.SIGTERM)
    _signal_quietly(target.pid, signal.SIGCONT)  # a paused process must wake to exit
    if not _wait_gone(target):
        _signal_quietly(target.pid, signal.SIGKILL)
        _wait_gone(target)


def _signal_quietly(pid: int, signum: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signum)


def _wait_listening(target: ProcessTarget, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the restarted process accepts connections on its URL's port."""
    parts = urlsplit(target.url or "")
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        return
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise FaultError(f"{target.label} exited with {proc.returncode} right after restart")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    raise FaultError(f"{target.label} did not listen on {host}:{port} within {READY_WAIT_S:.0f}s")
