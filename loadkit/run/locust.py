"""Locust as child processes of ``loadkit run``: one local runner, or a master and N workers.

Every child is a :class:`loadkit._proc.Child`: its own session with stdin
closed, so a Ctrl-C in the terminal reaches ``loadkit run`` only (it then
stops Locust gracefully: Locust fires ``quitting``, the fault schedule reverts
its faults, the metrics plugin closes the run directory, and escalates to
SIGKILL only after a grace period); and a lifeline, so a ``kill -9`` of
``loadkit run`` takes the master and the workers with it at once. When the
master ends, however it ends, the workers are stopped promptly (they would
otherwise wait for a master that is gone). All addresses are 127.0.0.1.

The graceful signal is SIGTERM, which Locust handles in the web UI mode; in
a headless run with a load shape Locust installs its own handler only after the
shape ends, so the scenario plugin installs one for that time
(:func:`loadkit.scenario.plugin.quit_on_sigterm`). Workers are not signalled:
the master tells them to quit.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from loadkit._proc import Child
from loadkit.scenario.model import Scenario, project_root

__all__ = ["LocustCommand", "LocustProcesses", "free_port"]

# After a stop (Ctrl-C, SIGTERM, overrun), Locust gets this long before it is killed: longer
# than the open model's default graceful stop (loadkit.load.arrival, 30 s like k6's), so that
# iterations in flight finish or are recorded as interrupted, and the run dir is closed
STOP_GRACE_S = 60.0
WORKER_WAIT_S = 60.0
WORKER_QUIT_S = 3.0  # workers follow a master that quit; one that died leaves them waiting


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocustCommand:
    """Everything needed to build the Locust command lines of one run."""

    scenario: Scenario
    host: str
    out_dir: Path
    target_info: Path | None = None
    users: int | None = None  # with spawn_rate and duration_s: replaces the scenario's load
    spawn_rate: float | None = None
    duration_s: float | None = None
    web: bool = False
    web_port: int = 8089
    workers: int = 0
    master_port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)  # e.g. the fault proxy's API
    start_gate: Path | None = None  # Locust waits for this file (see loadkit.plugin.gate)

    def _base(self) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(self.scenario.locustfile)]

    def _scenario_args(self) -> list[str]:
        return [
            "--loadkit-scenario",
            str(self.scenario.source),
            *self.scenario.locust_option_args(),
        ]

    def main_argv(self) -> list[str]:
        """The local runner, or the master when there are workers."""
        scenario = self.scenario
        argv = [*self._base(), "--host", self.host, *self._scenario_args()]
        argv += ["--loadkit-out", str(self.out_dir), "--loadkit-run-name", scenario.name]
        argv += [
            *self.extra_args,
            "--exit-code-on-error",
            "0",
        ]  # the verdict is the reporter's, not Locust's
        if scenario.faults:
            argv += ["--loadkit-faults", str(scenario.source)]
        if self.target_info is not None:
            argv += ["--loadkit-target-info", str(self.target_info)]
        if self.start_gate is not None:
            argv += ["--loadkit-start-gate", str(self.start_gate)]
        if scenario.interval_s is not None:
            argv += ["--loadkit-interval", f"{scenario.interval_s:g}"]
        if self.users is not None:
            argv += ["--users", str(self.users), "--spawn-rate", f"{self.spawn_rate or 1:g}"]
            if self.duration_s:
                argv += ["--run-time", f"{math.ceil(self.duration_s)}s"]
        if self.web:
            argv += ["--web-host", "127.0.0.1", "--web-port", str(self.web_port)]
        else:
            argv += ["--headless"]
        if self.workers:
            argv += ["--master", "--master-bind-host", "127.0.0.1"]
            argv += ["--master-bind-port", str(self.master_port)]
            argv += ["--expect-workers", str(self.workers)]
            argv += ["--expect-workers-max-wait", f"{WORKER_WAIT_S:g}"]
        return argv

    def worker_argv(self) -> list[str]:
        return [
            *self._base(),
            *self._scenario_args(),
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(self.master_port),
        ]


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(extra or {}))
    root = str(project_root())  # so a locustfile can import its siblings (locustfiles.*)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class LocustProcesses:
    """Start, watch and stop the Locust processes of one run.

    ``env`` is added to the children's environment (``loadkit run`` names
    what it started itself, for the fault journal).
    """

    def __init__(
        self, command: LocustCommand, log_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.command = command
        self.log_dir = log_dir
        self.env = dict(env or {})
        self.main: Child | None = None
        self.workers: list[Child] = []
        self._logs: list[IO[bytes]] = []
        self._stop_sent_at: float | None = None

    def _spawn(self, argv: list[str], log: IO[bytes] | None, name: str) -> Child:
        return Child(argv, name=name, stdout=log, env=_child_env(self.env)).start()

    def start(self) -> None:
        """The master (or local runner) prints to our terminal; workers log to files."""
        self.main = self._spawn(self.command.main_argv(), None, "locust")
        for index in range(self.command.workers):
            log = (self.log_dir / f"locust-worker-{index + 1}.log").open("ab")
            self._logs.append(log)
            self.workers.append(self._spawn(self.command.worker_argv(), log, f"worker-{index + 1}"))

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in [self.main, *self.workers] if child is not None]

    @property
    def returncode(self) -> int | None:
        return None if self.main is None else self.main.returncode

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for the main process to end; its exit code or None."""
        return None if self.main is None else self.main.wait(timeout_s)

    def stop(self) -> None:
        """Ask Locust to stop gracefully (SIGTERM to the master / local runner, once)."""
        if self._stop_sent_at is None:
            self._stop_sent_at = time.monotonic()
            if self.main is not None:
                self.main.signal(signal.SIGTERM)

    def kill_if_overdue(self) -> bool:
        """SIGKILL what is still running ``STOP_GRACE_S`` after :meth:`stop`."""
        if self._stop_sent_at is None or time.monotonic() - self._stop_sent_at < STOP_GRACE_S:
            return False
        self.kill()
        return True

    def kill(self) -> None:
        for child in [self.main, *self.workers]:
            if child is not None and child.running():
                child.kill()

    def finish(self) -> None:
        """After the main process ended: let workers quit (they follow the master), reap all."""
        deadline = time.monotonic() + WORKER_QUIT_S
        for child in self.workers:
            if child.wait(max(0.1, deadline - time.monotonic())) is None:
                child.stop(5.0)
        if self.main is not None:
            self.main.kill()  # reaps it (a no-op signal when it already ended)
        for log in self._logs:
            log.close()
        self._logs = []

    def worker_problems(self) -> list[str]:
        """One line per worker that ended badly: its exit code and last log line."""
        problems = []
        for index, proc in enumerate(self.workers, start=1):
            if proc.returncode not in (0, None, -signal.SIGTERM):
                log = self.log_dir / f"locust-worker-{index}.log"
                text = (
                    log.read_text(encoding="utf-8", errors="replace").strip()
                    if log.exists()
                    else ""
                )
                last = text.splitlines()[-1] if text else "no output"
                problems.append(f"worker {index} exited with {proc.returncode}: {last}")
        return problems
