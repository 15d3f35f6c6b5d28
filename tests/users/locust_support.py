"""Helpers for the locustfile tests: real headless Locust runs, their stats, target faults."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILES = ROOT / "locustfiles"
LOCUST = str(Path(sys.executable).parent / "locust")


@dataclass
class Stat:
    requests: int
    failures: int
    avg_size: float
    min_ms: float


@dataclass
class LocustResult:
    returncode: int
    output: str
    stats: dict[str, Stat]  # "<type> <name>" -> Stat
    failures: list[dict[str, str]] = field(default_factory=list)

    def count(self, endpoint: str) -> int:
        stat = self.stats.get(endpoint)
        return stat.requests if stat else 0

    def failed(self, endpoint: str) -> int:
        stat = self.stats.get(endpoint)
        return stat.failures if stat else 0

    @property
    def total_failures(self) -> int:
        return sum(s.failures for s in self.stats.values())

    def explain(self) -> str:
        rows = [f"{k}: {v.requests} req, {v.failures} fail" for k, v in sorted(self.stats.items())]
        errors = [f"{f['Name']}: {f['Error'][:200]} x{f['Occurrences']}" for f in self.failures]
        return "\n".join(rows + errors + [self.output[-3000:]])


def read_stats(prefix: Path) -> dict[str, Stat]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    stats = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                continue
            stats[f"{row['Type']} {row['Name']}"] = Stat(
                int(row["Request Count"]),
                int(row["Failure Count"]),
                float(row["Average Content Size"] or 0),
                float(row["Min Response Time"] or 0),
            )
    return stats


def read_final_stats(prefix: Path) -> dict[str, Stat]:
    """The stats Locust saves at shutdown (``--json-file``); the CSV may be a second old."""
    path = Path(f"{prefix}.json")
    if not path.exists():
        return read_stats(prefix)
    stats = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        count = int(entry["num_requests"])
        stats[f"{entry['method']} {entry['name']}"] = Stat(
            count,
            int(entry["num_failures"]),
            entry["total_content_length"] / count if count else 0.0,
            float(entry["min_response_time"] or 0),
        )
    return stats


def read_failures(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_cmd(locustfile: str, *args: str) -> list[str]:
    return [LOCUST, "-f", str(LOCUSTFILES / locustfile), *args]


def stop(proc: subprocess.Popen) -> None:
    """Stop a process group we started: SIGTERM, then SIGKILL after a grace period."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


class LocustRunner:
    """Starts headless Locust runs in ``workdir``; every process is stopped at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.runs = 0

    def start(self, locustfile: str, *args: str, log: Path | None = None) -> subprocess.Popen:
        log = log or self.workdir / f"locust-{len(self.procs)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                locust_cmd(locustfile, *args),
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def prefix(self) -> Path:
        self.runs += 1
        return self.workdir / f"run{self.runs}"

    def run(
        self,
        locustfile: str,
        host: str,
        *,
        users: int = 2,
        run_time: str = "60s",
        args: tuple[str, ...] = (),
        during: Callable[[Path], None] | None = None,
        until: tuple[str, ...] = (),
    ) -> LocustResult:
        """One headless run of at most ``run_time``.

        ``until``: endpoints that must each have been counted (polled in the live
        CSV) before the run is stopped early with SIGTERM, so a loaded machine
        only makes the run longer. ``during(prefix)`` runs while Locust is going.
        """
        prefix = self.prefix()
        log = Path(f"{prefix}.log")
        proc = self.start(
            locustfile,
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            run_time,
            "--host",
            host,
            "--csv",
            str(prefix),
            "--json-file",
            str(prefix),
            *args,
            log=log,
        )
        if during is not None:
            during(prefix)
        if until:

            def counted() -> bool:
                try:
                    stats = read_stats(prefix)
                except (ValueError, KeyError, TypeError):
                    return False  # read while Locust rewrote the live CSV: read it again
                return all(e in stats and stats[e].requests > 0 for e in until)

            try:
                wait_for(lambda: counted() or proc.poll() is not None, 240, f"{until}")
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=240)
        return LocustResult(
            proc.returncode,
            log.read_text(errors="replace"),
            read_final_stats(prefix),
            read_failures(prefix),
        )

    def close(self) -> None:
        for proc in self.procs:
            stop(proc)


def wait_for(predicate: Callable[[], bool], timeout_s: float = 60.0, what: str = "") -> None:
    """Poll until ``predicate()``; generous deadline, no fixed sleeps."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.2)


def set_fault(url: str, **fault: object) -> None:
    httpx.post(f"{url}/admin/faults", json=fault, timeout=10).raise_for_status()


def clear_faults(url: str) -> None:
    httpx.delete(f"{url}/admin/faults", timeout=10).raise_for_status()
