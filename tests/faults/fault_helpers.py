"""Helpers for the fault tests: a small recorder, real processes, polling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


class FileRecorder:
    """Stands in for the metrics part's RunRecorder (same interface): appends events.jsonl."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def current_run_dir(self) -> Path:
        return self.run_dir

    def event(self, type: str, **fields) -> None:
        with open(self.run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": time.time(), "type": type, **fields}) + "\n")

    def events(self, type_: str | None = None) -> list[dict]:
        return read_events(self.run_dir, type_)


def read_events(run_dir: Path, type_: str | None = None) -> list[dict]:
    path = Path(run_dir) / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if type_ is None or event.get("type") == type_:
            out.append(event)
    return out


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def process_state(pid: int) -> str:
    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return "gone"


def kill_tree(proc: subprocess.Popen | int) -> None:
    pid = proc if isinstance(proc, int) else proc.pid
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.send_signal(signal.SIGCONT)
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)
    if not isinstance(proc, int):
        proc.wait(timeout=10)


SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]


def http_server_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    return process_state(pid) not in ("gone", psutil.STATUS_ZOMBIE)


__all__ = [
    "SLEEPER",
    "FileRecorder",
    "free_port",
    "http_server_cmd",
    "kill_tree",
    "pid_alive",
    "process_state",
    "read_events",
    "wait_until",
]


LOCUSTFILE = Path(__file__).with_name("faults_locustfile.py")
LOCUST = str(Path(sys.executable).with_name("locust"))


def locust_cmd(host: str, plan: Path, *extra: str, run_time: str | None = "5s") -> list[str]:
    cmd = [
        LOCUST,
        "-f",
        str(LOCUSTFILE),
        "--host",
        host,
        "--loadkit-faults",
        str(plan),
        "--skip-log-setup",
    ]
    if run_time is not None:
        cmd += ["--headless", "-u", "2", "-r", "10", "-t", run_time]
    return [*cmd, *extra]


def locust_env(run_dir: Path, index: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, LOADKIT_TEST_RUN_DIR=str(run_dir), LOADKIT_FAULTS_INDEX=str(index))
    env.update(extra)
    return env


def write_plan(path: Path, faults: list[dict]) -> Path:
    path.write_text(json.dumps({"faults": faults}))  # JSON is YAML
    return path
