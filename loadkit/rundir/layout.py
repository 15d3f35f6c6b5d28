"""The run directory: its file names, event types, name, and ``run.json`` (atomic rewrites).

Every module that writes or reads a run directory takes the names from here
(docs/run-dir.md is the contract they describe).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
import urllib.parse
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ACCEPTED_JSONL",
    "AUDIT_JSON",
    "AUDIT_JSONL",
    "COMPARE_HTML",
    "EVENTS_JSONL",
    "FAILURES_JSON",
    "FAULTS_JOURNAL",
    "JUNIT_XML",
    "LATENCY_HLOG",
    "PROBES_JSONL",
    "REPORT_HTML",
    "RESOURCES_CSV",
    "RESOURCE_COLUMNS",
    "RUN_JSON",
    "RUN_SCHEMA",
    "SUMMARY_JSON",
    "EventType",
    "create_run_dir",
    "git_commit",
    "run_name_slug",
    "strip_userinfo",
    "versions",
    "write_json_atomic",
]

RUN_SCHEMA = 1

# Written while the run goes (docs/run-dir.md names the writer of each).
RUN_JSON: Final = "run.json"
LATENCY_HLOG: Final = "latency.hlog"
EVENTS_JSONL: Final = "events.jsonl"
RESOURCES_CSV: Final = "resources.csv"
FAULTS_JOURNAL: Final = "faults.journal"
PROBES_JSONL: Final = "probes.jsonl"
ACCEPTED_JSONL: Final = "accepted.jsonl"
# Written by the loss audit after the load (``loadkit audit`` rewrites them).
AUDIT_JSONL: Final = "audit.jsonl"
AUDIT_JSON: Final = "audit.json"
# Written by the metrics plugin when a test stops (the distinct failure messages).
FAILURES_JSON: Final = "failures.json"
# Derived by the reporter (can always be rebuilt from the files above).
SUMMARY_JSON: Final = "summary.json"
REPORT_HTML: Final = "report.html"
JUNIT_XML: Final = "junit.xml"
COMPARE_HTML: Final = "compare.html"  # default output of ``loadkit compare`` (in RUN_B)

RESOURCE_COLUMNS: Final = (
    "t",
    "source",
    "kind",
    "name",
    "cpu_percent",
    "rss_bytes",
    "num_fds",
    "connections",
)


class EventType(StrEnum):
    """The ``type`` of an ``events.jsonl`` line (a ``str``: compares and serialises as one)."""

    RUN_START = "run_start"
    RUN_STOP = "run_stop"
    STAGE = "stage"
    USERS = "users"
    STOPPING = "stopping"
    WORKER_JOIN = "worker_join"
    WORKER_MISSING = "worker_missing"
    WORKER_QUIT = "worker_quit"
    FAULT_INJECT = "fault_inject"
    FAULT_REVERT = "fault_revert"
    FAULT_ERROR = "fault_error"
    NOTE = "note"


def run_name_slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return slug or "run"


def create_run_dir(out_dir: Path, name: str, started_at: float) -> Path:
    """``out_dir/YYYYmmdd-HHMMSS-<name>`` (``-2``, ``-3``… if taken), created."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started_at))
    base = f"{stamp}-{run_name_slug(name)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = out_dir / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free run directory name for {base} in {out_dir}")


def strip_userinfo(url: str | None) -> str | None:
    """``http://user:pw@host:1/p?q`` → ``http://host:1/p?q`` (never write credentials)."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {
        "loadkit": _version_of("loadkit"),
        "locust": _version_of("locust"),
        "python": platform.python_version(),
    }


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit checked out in ``cwd`` (or the current folder), if it is a git checkout."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename (never half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
