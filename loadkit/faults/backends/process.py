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
stops and starts it at once (nothing to revert).

A process of the reference target belongs to its launcher, which alone can
reap it: when ``target.json`` names the launcher's control API
(:mod:`loadkit.target.control`), kill, terminate, restart and start are asked
of the launcher, which reports when each step happened. Otherwise the backend
acts itself, counts a zombie as gone (never waits on one), writes a restarted
target's new pid back to ``target.json``, and waits until the process answers
``GET /health`` again.

Every action returns an :class:`~loadkit.faults.backends.base.Effect`: an
inject happened at the signal time; a revert (and the end of a restart) when
the process answered again, so the window is the real outage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loadkit._proc import Child, alive, reap_quietly, stop_pids
from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext, Effect, FaultBackend
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
    control: dict[str, str] | None = None  # the launcher's control API, from target.json


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
                control=data.get("control") if isinstance(data.get("control"), dict) else None,
            )
        if params.get("pid") is not None:
            return ProcessTarget(f"pid {params['pid']}", int(params["pid"]), command)
        try:
            pid = int(Path(params["pidfile"]).read_text().strip())
        except (OSError, ValueError) as exc:
            raise FaultError(f"cannot read pidfile {params['pidfile']}: {exc}") from None
        return ProcessTarget(f"pidfile {params['pidfile']}", pid, command)

    # -- actions ------------------------------------------------------------------

    def inject(self, spec: FaultSpec) -> Effect:
        target = self.resolve(spec)
        if spec.kind == "pause":
            at = time.time()
            _signal(target, signal.SIGSTOP)
            return Effect(at)
        if target.control and target.info_key:
            back = spec.for_s if spec.kind in ("kill", "terminate") else None
            times = _ask_launcher(target, spec.kind, back)
            ready = times.get("ready_at")
            return Effect(float(times["signalled_at"]), until=None if ready is None else ready)
        at = time.time()
        if spec.kind == "kill":
            _signal(target, signal.SIGKILL)
            _wait_gone(target)
        elif spec.kind == "terminate":
            _stop(target)
        elif spec.kind == "restart":
            _stop(target)
            return Effect(at, until=self._start(target))
        return Effect(at)

    def revert(self, spec: FaultSpec) -> Effect | None:
        target = self.resolve(spec)
        if spec.kind == "pause":
            _signal(target, signal.SIGCONT)
            return Effect(time.time())
        if spec.kind not in ("kill", "terminate"):
            return None
        if target.control and target.info_key:
            ready = _ask_launcher(target, "start").get("ready_at")
            return None if ready is None else Effect(float(ready))
        if alive(target.pid):
            return None  # already back (restarted by someone else)
        if not target.command:
            raise FaultError(f"{target.label} stays down: no command known to start it again")
        return Effect(self._start(target))

    def _start(self, target: ProcessTarget) -> float:
        """Start ``target`` again; when it answered (or started, without a URL)."""
        assert target.command is not None
        info = self.context.target_info
        log_dir = Path(info).parent if info and target.info_key else None
        log_path = (log_dir / f"{target.info_key}.restart.log") if log_dir else None
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        # no lifeline: a process we bring back is the service's, it must outlive this run
        child = Child(target.command, name=target.label, stdout=out, lifeline=False)
        try:
            child.start()
        except OSError as exc:
            raise FaultError(f"cannot start {target.label}: {exc}") from None
        finally:
            if log_path and not isinstance(out, int):
                out.close()
        if target.info_key:
            self._record_pid(target.info_key, child.pid)
        if target.url:
            return _wait_answering(target, child)
        return time.time()

    def _record_pid(self, key: str, pid: int) -> None:
        path, data = self._target_info()
        data[key]["pid"] = pid
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)


def _signal(target: ProcessTarget, signum: int) -> None:
    try:
        os.kill(target.pid, signum)
    except ProcessLookupError:
        raise FaultError(f"{target.label} (pid {target.pid}) is not running") from None
    except PermissionError:
        raise FaultError(f"not allowed to signal {target.label} (pid {target.pid})") from None


def _wait_gone(target: ProcessTarget, timeout: float = STOP_WAIT_S) -> bool:
    """Wait until the process ended; a zombie counts as ended (and is reaped if ours)."""
    deadline = time.monotonic() + timeout
    while alive(target.pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    reap_quietly(target.pid)
    return True


def _stop(target: ProcessTarget) -> None:
    _signal(target, signal.SIGCONT)  # FaultError when it is not running or not ours to signal
    stop_pids([target.pid], STOP_WAIT_S)


def _wait_answering(target: ProcessTarget, child: Child) -> float:
    """Wait until the restarted process answers ``GET /health``; returns when it did."""
    url = f"{(target.url or '').rstrip('/')}/health"
    deadline = time.monotonic() + READY_WAIT_S
    # one client for the whole wait: a new one per poll costs a TLS context each (~0.1 s)
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not child.running():
                raise FaultError(
                    f"{target.label} exited with {child.returncode} right after restart"
                )
            try:
                if client.get(url).status_code < 500:
                    return time.time()
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    raise FaultError(f"{target.label} did not answer {url} within {READY_WAIT_S:.0f}s")


def _ask_launcher(
    target: ProcessTarget, action: str, back_after_s: float | None = None
) -> dict[str, Any]:
    """Ask the launcher that owns ``target`` to act on it (see loadkit.target.control)."""
    from loadkit.target.control import TOKEN_HEADER

    assert target.control is not None and target.info_key is not None
    url = f"{target.control['url']}/processes/{target.info_key}/{action}"
    try:
        response = httpx.post(
            url,
            headers={TOKEN_HEADER: str(target.control.get("token", ""))},
            params={} if back_after_s is None else {"back_after_s": f"{back_after_s:g}"},
            timeout=READY_WAIT_S + STOP_WAIT_S + 5.0,
        )
    except httpx.HTTPError as exc:
        raise FaultError(f"{target.label}: its launcher does not answer ({exc})") from None
    body: dict[str, Any] = response.json() if response.content else {}
    if response.status_code != 200:
        raise FaultError(f"{target.label}: launcher: {body.get('error') or response.status_code}")
    return body
