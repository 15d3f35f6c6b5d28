"""Target resource sampling → ``resources.csv`` (processes by pid, Docker containers).

Collectors are small plugins (:class:`Collector`); :class:`ResourceSampler`
runs them once a second in a background greenlet and appends one CSV row per
source. A collector that fails is logged once and skipped; nothing here can
stall the load generator (Docker calls go over gevent-patched sockets with a
timeout, psutil reads /proc).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import gevent
import psutil

from loadkit.rundir.layout import RESOURCE_COLUMNS

__all__ = [
    "CSV_HEADER",
    "Collector",
    "DockerCollector",
    "ProcessCollector",
    "ResourceSample",
    "ResourceSampler",
    "docker_collectors",
]

log = logging.getLogger(__name__)

MIN_CPU_WINDOW_S = 0.5  # a CPU percentage over less time than this is noise
CSV_HEADER = RESOURCE_COLUMNS


@dataclass(frozen=True)
class ResourceSample:
    source: str
    kind: str  # "process" | "container"
    name: str
    cpu_percent: float
    rss_bytes: int
    num_fds: int | None = None
    connections: int | None = None


class Collector(Protocol):
    label: str

    def sample(self) -> ResourceSample | None:
        """One sample, or None when the source is (temporarily) gone."""
        ...


class ProcessCollector:
    """A local process by pid; ``resolve`` finds the new pid after a restart."""

    def __init__(
        self, label: str, pid: int, resolve: Callable[[], int | None] | None = None
    ) -> None:
        self.label = label
        self.pid = pid
        self._resolve = resolve
        self._process: psutil.Process | None = None
        self._primed_at = time.monotonic()
        self._attach(pid)

    def _attach(self, pid: int) -> None:
        try:
            self._process = psutil.Process(pid)
            self._process.cpu_percent(None)  # prime: the first call always answers 0.0
            self._primed_at = time.monotonic()
            self.pid = pid
        except psutil.Error:
            self._process = None

    def sample(self) -> ResourceSample | None:
        if self._process is None or not self._process.is_running():
            new_pid = self._resolve() if self._resolve else None
            if new_pid is None or new_pid == getattr(self._process, "pid", None):
                self._process = None
                return None
            self._attach(new_pid)
            if self._process is None:
                return None
        process = self._process
        try:
            with process.oneshot():
                cpu = process.cpu_percent(None)
                # CPU over a few milliseconds (the first sample right after priming, e.g.
                # while the master creates the run directory) read 270 % on 2 cores:
                # not a measurement. NaN leaves a gap in the chart instead.
                if time.monotonic() - self._primed_at < MIN_CPU_WINDOW_S:
                    cpu = math.nan
                self._primed_at = time.monotonic()
                rss = process.memory_info().rss
                name = process.name()
                fds = process.num_fds()
            connections = _open_sockets(process)
        except psutil.Error:
            self._process = None
            return None
        return ResourceSample(self.label, "process", name, cpu, rss, fds, connections)


def _open_sockets(process: psutil.Process) -> int:
    """Open sockets of ``process``: counted from ``/proc/PID/fd`` on Linux.

    ``psutil.net_connections`` parses the whole of ``/proc/net/tcp*`` in Python
    and, sampled every second on the Locust master, blocked the gevent loop
    (9 s of 31 s CPU with 500 WebSocket users); a readlink per fd is cheap.
    """
    fd_dir = f"/proc/{process.pid}/fd"
    if not os.path.isdir(fd_dir):
        return len(process.net_connections(kind="inet"))
    count = 0
    with os.scandir(fd_dir) as entries:
        for entry in entries:
            try:
                if os.readlink(entry.path).startswith("socket:"):
                    count += 1
            except OSError:  # the fd closed while we looked
                continue
    return count


class DockerCollector:
    """A Docker container via the engine's one-shot stats (CPU from successive samples)."""

    def __init__(self, label: str, container: Any) -> None:
        self.label = label
        self._container = container
        self._last: tuple[int, int] | None = None

    def sample(self) -> ResourceSample | None:
        stats = self._container.stats(stream=False, one_shot=True)
        cpu_stats = stats.get("cpu_stats") or {}
        total = int((cpu_stats.get("cpu_usage") or {}).get("total_usage") or 0)
        system = int(cpu_stats.get("system_cpu_usage") or 0)
        cpus = int(cpu_stats.get("online_cpus") or 1)
        cpu = math.nan  # the first sample has nothing to compare with
        if self._last is not None and system > self._last[1]:
            cpu = (total - self._last[0]) / (system - self._last[1]) * cpus * 100.0
        self._last = (total, system)
        memory = int((stats.get("memory_stats") or {}).get("usage") or 0)
        return ResourceSample(self.label, "container", self._container.short_id, cpu, memory)


def docker_collectors(names: Sequence[str]) -> list[Collector]:
    """Collectors for the named containers; none (with a warning) when there is no engine."""
    if not names:
        return []
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:  # no SDK config, no socket, engine down: all mean "skip"
        log.warning(
            "loadkit: no Docker engine (%s); not sampling containers %s",
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            ", ".join(names),
        )
        return []
    collectors: list[Collector] = []
    for name in names:
        try:
            collectors.append(DockerCollector(name, client.containers.get(name)))
        except Exception as exc:
            log.warning("loadkit: container %s not found (%s); not sampling it", name, exc)
    return collectors


class ResourceSampler:
    """Samples every collector every ``period_s`` into ``resources.csv``."""

    def __init__(self, path: Path, collectors: Sequence[Collector], period_s: float = 1.0) -> None:
        self.path = path
        self.collectors = list(collectors)
        self.period_s = period_s
        new_file = not path.exists()
        self._file: IO[str] = path.open("a", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        if new_file:
            self._csv.writerow(CSV_HEADER)
            self._file.flush()
        self._failed: set[str] = set()
        self._greenlet: gevent.Greenlet[Any, Any] | None = None

    def start(self) -> None:
        if self._greenlet is None and self.collectors:
            self._greenlet = gevent.spawn(self._loop)

    def sample_once(self) -> int:
        """Sample every collector once; returns the number of rows written."""
        rows = 0
        now = time.time()
        for collector in self.collectors:
            try:
                sample = collector.sample()
            except Exception as exc:
                if collector.label not in self._failed:
                    self._failed.add(collector.label)
                    log.warning("loadkit: sampling %s failed (%s)", collector.label, exc)
                continue
            if sample is None:
                continue
            self._failed.discard(collector.label)
            self._csv.writerow(_row(now, sample))
            rows += 1
        if rows:
            self._file.flush()
        return rows

    def _loop(self) -> None:
        next_at = time.monotonic()
        while True:
            self.sample_once()
            next_at += self.period_s
            gevent.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5)
            self._greenlet = None
        if not self._file.closed:
            self._file.close()


def _row(now: float, sample: ResourceSample) -> list[str]:
    def opt(value: int | None) -> str:
        return "" if value is None else str(value)

    return [
        f"{now:.3f}",
        sample.source,
        sample.kind,
        sample.name,
        f"{sample.cpu_percent:.1f}",
        str(sample.rss_bytes),
        opt(sample.num_fds),
        opt(sample.connections),
    ]
