"""Start the reference target (gateway + agent) as two real processes.

    with start_target(tmp_path, lease_s=2) as target:
        httpx.post(f"{target.url}/execute", json={...})
        target.agent.kill()           # kill -9
        target.restart("agent")       # same data dir, same port

Each process binds its own socket (port 0 = any free port) and reports the
port it really got in ``<data-dir>/<name>.port``; the launcher waits for that
file and for ``GET /health``, then writes ``<data-dir>/target.json`` (the
contract of docs/target-api.md). ``cmd`` in there restarts a process with the
same data dir and the same port. Each child watches the launcher's pid and
exits when it is gone, so no orphan is left holding a port.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil

from loadkit._proc import Child, stop_pids
from loadkit.errors import ConfigError, TargetError
from loadkit.target.config import AgentConfig, TargetConfig, to_argv
from loadkit.target.control import ControlServer

__all__ = ["ManagedProcess", "RunningTarget", "start_target"]

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_GATEWAY_FIELDS = {f.name for f in dataclasses.fields(TargetConfig)}
_AGENT_FIELDS = {f.name for f in dataclasses.fields(AgentConfig)} - {"data_dir", "host", "port"}


class ManagedProcess:
    """One child process of the target: ``pid``, ``cmd``, ``url``; start, stop, kill.

    The process is a :class:`loadkit._proc.Child` (it dies with the launcher);
    stopping or killing it reaps it, so nobody ever waits on a zombie.
    """

    def __init__(self, name: str, cmd: list[str], data_dir: Path, port_file: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.data_dir = data_dir
        self.port_file = port_file
        self.url = ""
        self.child: Child | None = None
        self.lock = threading.RLock()  # one action at a time (the control API runs in threads)
        self.start_times: list[float] = []  # how long the last starts took, spawn to healthy
        self.ready_at: float | None = None  # wall clock of the last start's first healthy answer
        self.comeback: threading.Timer | None = None  # a planned start (see RunningTarget.act)
        self.signalled_at = 0.0  # wall clock of the last kill/terminate/restart signal

    @property
    def popen(self) -> subprocess.Popen[bytes] | None:
        return self.child.popen if self.child is not None else None

    @property
    def pid(self) -> int:
        return self.child.pid if self.child is not None else 0

    def running(self) -> bool:
        return self.child is not None and self.child.running()

    def start(self, host: str, timeout_s: float = START_TIMEOUT_S, hold_until: float = 0.0) -> None:
        """Start the process and wait until ``GET /health`` answers.

        ``hold_until`` (wall clock): the process starts now but binds only then
        (``--hold-until``), so it answers at that instant however long its start
        takes, as long as it was started early enough (see :attr:`lead_s`).
        """
        self.port_file.unlink(missing_ok=True)
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        argv = [*self.cmd, "--hold-until", f"{hold_until:.3f}"] if hold_until else self.cmd
        # the health client first: making one costs a TLS context (~0.1 s, 0.3 s on a busy
        # machine), which would show as a late comeback if made when the port file appears
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            began = time.monotonic()
            with (logs / f"{self.name}.log").open("ab") as log:
                self.child = Child(argv, name=self.name, stdout=log).start()
            deadline = time.monotonic() + max(0.0, hold_until - time.time()) + timeout_s
            while not self.port_file.exists():
                self._check_alive(logs / f"{self.name}.log")
                if time.monotonic() > deadline:
                    self.kill()
                    raise TargetError(f"{self.name} did not start within {timeout_s:.0f}s")
                time.sleep(0.02)
            port = int(self.port_file.read_text(encoding="ascii").strip())
            self.url = f"http://{_url_host(host)}:{port}"
            self._set_port(port)
            self.wait_healthy(deadline, logs / f"{self.name}.log", client)
        self.ready_at = time.time()
        if not hold_until:  # a held start's duration is the hold's, not the process's
            self.start_times = [*self.start_times[-4:], time.monotonic() - began]

    @property
    def start_s(self) -> float:
        """The usual start time (median of the last five unheld starts)."""
        return statistics.median(self.start_times) if self.start_times else 0.0

    @property
    def lead_s(self) -> float:
        """How long before a planned comeback to start the process (it then holds).

        Generous: a start on a busy machine takes twice its usual time and more
        (seen: 0.6 s at launch, 1.6 s under load); starting too early costs only
        an idle process that holds, starting too late makes the outage too long.
        """
        return 2.0 * self.start_s + 1.0

    def wait_healthy(
        self, deadline: float, log_file: Path | None = None, client: httpx.Client | None = None
    ) -> None:
        """Poll ``GET /health`` until it answers 200 (TargetError past ``deadline``)."""
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(httpx.Client(timeout=2.0, trust_env=False))
            while not self._healthy(client):
                if log_file is not None:
                    self._check_alive(log_file)
                if time.monotonic() > deadline:
                    self.kill()
                    raise TargetError(f"{self.name} at {self.url} did not become healthy")
                time.sleep(0.02)

    def _set_port(self, port: int) -> None:
        """Pin ``--port`` in ``cmd`` to the port really bound, so a restart reuses it."""
        index = self.cmd.index("--port")
        self.cmd[index + 1] = str(port)

    def _check_alive(self, log_file: Path) -> None:
        if self.child is not None and not self.child.running():
            lines = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            last = lines[-1] if lines else f"exit code {self.child.returncode}"
            raise TargetError(f"{self.name} exited at start: {last}")

    def _healthy(self, client: httpx.Client) -> bool:
        try:
            return client.get(f"{self.url}/health").status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (and SIGCONT, in case it was paused), then SIGKILL after ``timeout_s``."""
        if self.child is not None:
            self.child.stop(timeout_s)

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind (the process is reaped)."""
        if self.child is not None:
            self.child.kill()

    def signal(self, signum: int) -> None:
        """Send a signal (e.g. SIGSTOP / SIGCONT to pause and resume)."""
        if self.child is not None:
            self.child.signal(signum)

    def describe(self) -> dict[str, Any]:
        return {"pid": self.pid, "url": self.url, "cmd": list(self.cmd)}


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class RunningTarget:
    """A started target: ``url``, ``agent_url``, ``data_dir``, ``gateway``, ``agent``."""

    def __init__(self, data_dir: Path, host: str, gateway: ManagedProcess, agent: ManagedProcess):
        self.data_dir = data_dir
        self.host = host
        self.gateway = gateway
        self.agent = agent
        self.control: ControlServer | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def agent_url(self) -> str:
        return self.agent.url

    @property
    def processes(self) -> dict[str, ManagedProcess]:
        return {"gateway": self.gateway, "agent": self.agent}

    def start(self) -> None:
        try:
            self.gateway.start(self.host)
            agent_cmd = self.agent.cmd
            agent_cmd[agent_cmd.index("--gateway-url") + 1] = self.gateway.url
            self.agent.start(self.host)
        except BaseException:
            self.stop()
            raise
        self.control = ControlServer(self.act).start()
        self.write_manifest()

    def act(self, name: str, action: str, back_after_s: float | None = None) -> dict[str, Any]:
        """Kill, terminate, start or restart ``name``; when each step happened (wall clock).

        ``signalled_at``: the signal was sent; ``stopped_at``: the process was
        reaped; ``ready_at``: ``GET /health`` answered 200 again. A kill or
        terminate with ``back_after_s`` plans the start so that the process
        answers again ``back_after_s`` after the signal, also if nobody asks
        for it: a fault of a run that died still ends. The process is started
        :attr:`ManagedProcess.lead_s` ahead and holds (does not bind) until
        that instant, so a slow start on a busy machine does not lengthen the
        outage. ``start`` then waits for that comeback and reports when it
        answered.
        """
        process = self.processes.get(name)
        if process is None:
            raise ConfigError(f"no process {name!r}", field="name", fix="use gateway or agent")
        times: dict[str, Any] = {"name": name, "action": action}
        with process.lock:
            if self._stopping:
                raise TargetError("the target is stopping")
            if action in ("kill", "terminate", "restart"):
                self._cancel_comeback(process)
                times["signalled_at"] = process.signalled_at = time.time()
                if action == "kill":
                    process.kill()
                else:
                    self._stop(name, process)
                times["stopped_at"] = time.time()
                if back_after_s is not None and action != "restart":
                    back_at = times["signalled_at"] + back_after_s
                    lead = back_at - process.lead_s - time.time()
                    timer = threading.Timer(max(0.0, lead), self._comeback, args=(name, back_at))
                    timer.daemon = True
                    process.comeback = timer
                    timer.start()
            if action in ("start", "restart"):
                self._cancel_comeback(process)
                if not process.running():
                    process.start(self.host)
                    self.write_manifest()
                if process.ready_at is not None and process.ready_at > process.signalled_at:
                    times["ready_at"] = process.ready_at  # it came back after the last signal
        times["pid"] = process.pid
        return times

    @staticmethod
    def _cancel_comeback(process: ManagedProcess) -> None:
        if process.comeback is not None:
            process.comeback.cancel()
            process.comeback = None

    def _comeback(self, name: str, back_at: float) -> None:
        """A planned start (see :meth:`act`); a later start or stop may have made it moot."""
        process = self.processes[name]
        with process.lock:
            if self._stopping or process.comeback is None or process.running():
                return
            process.comeback = None
            with contextlib.suppress(TargetError):
                process.start(self.host, hold_until=back_at)
                self.write_manifest()

    def restart(self, name: str) -> None:
        """Stop ``name`` (if it still runs) and start it again on the same port and data."""
        self.act(name, "restart")

    def stop(self) -> None:
        """Stop the agent, then the gateway: SIGTERM, then kill after a grace period.

        A process restarted by someone else from ``target.json`` (the process
        fault backend records its new pid there) is stopped too.
        """
        self._stopping = True
        for process in (self.agent, self.gateway):
            self._cancel_comeback(process)
        if self.control is not None:
            self.control.close()
            self.control = None
        self._stop("agent", self.agent)
        self._stop("gateway", self.gateway)

    def _stop(self, name: str, process: ManagedProcess) -> None:
        with process.lock:  # not while the control API acts on it
            process.stop()
            pid = self._restarted_elsewhere(name, process)
            if pid:
                stop_pids([pid], STOP_TIMEOUT_S)  # not ours: SIGTERM, then SIGKILL

    def _restarted_elsewhere(self, name: str, process: ManagedProcess) -> int:
        """The pid in target.json when it is another live copy of ``process``, else 0."""
        try:
            manifest = json.loads((self.data_dir / "target.json").read_text(encoding="utf-8"))
            pid = int(manifest[name]["pid"])
            if pid != process.pid and psutil.Process(pid).cmdline() == process.cmd:
                return pid
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            pass
        return 0

    def write_manifest(self) -> None:
        manifest: dict[str, Any] = {
            "gateway": self.gateway.describe(),
            "agent": self.agent.describe(),
            "data_dir": str(self.data_dir),
            "owner_pid": os.getpid(),
        }
        if self.control is not None:
            manifest["control"] = self.control.describe()
        path = self.data_dir / "target.json"
        tmp = path.with_name(".target.json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def __enter__(self) -> RunningTarget:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_target(
    data_dir: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    agent_port: int = 0,
    **options: Any,
) -> RunningTarget:
    """Start gateway + agent with ``options`` (fields of TargetConfig / AgentConfig)."""
    unknown = set(options) - _GATEWAY_FIELDS - _AGENT_FIELDS
    if unknown:
        raise ConfigError(
            f"unknown target option(s) {', '.join(sorted(unknown))}",
            field="options",
            fix="use fields of TargetConfig or AgentConfig (loadkit.target.config)",
        )
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    watch = {"watch_pid": os.getpid()}
    gateway_opts = {k: v for k, v in options.items() if k in _GATEWAY_FIELDS}
    agent_opts = {k: v for k, v in options.items() if k in _AGENT_FIELDS}
    gateway_config = TargetConfig(data_dir=root, host=host, port=port, **{**watch, **gateway_opts})
    agent_config = AgentConfig(data_dir=root, host=host, port=agent_port, **{**watch, **agent_opts})
    python = sys.executable
    gateway = ManagedProcess(
        "gateway",
        [python, "-m", "loadkit.target.gateway", *to_argv(gateway_config)],
        root,
        root / "gateway.port",
    )
    agent = ManagedProcess(
        "agent",
        [python, "-m", "loadkit.target.agent", *to_argv(agent_config)],
        root,
        root / "agent.port",
    )
    target = RunningTarget(root, host, gateway, agent)
    target.start()
    return target
