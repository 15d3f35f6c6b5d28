"""The metrics part's ``--loadkit-*`` Locust arguments and their validation."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError

__all__ = ["MetricsSettings", "add_arguments", "parse_target_pids"]

DEFAULT_OUT = "reports"
DEFAULT_INTERVAL = "1"
MIN_INTERVAL_S = 0.1
MAX_INTERVAL_S = 3600.0


def add_arguments(parser: Any) -> None:
    """Add the metrics arguments to Locust's parser.

    Only Locust's own parser knows ``include_in_web_ui`` (argument groups do not).
    ``--loadkit-target-info`` is shared with the faults part, which defines it;
    metrics reads it from the parsed options.
    """
    parser.add_argument(
        "--loadkit-out",
        default=DEFAULT_OUT,
        env_var="LOCUST_LOADKIT_OUT",
        include_in_web_ui=True,
        help="folder for run directories (default: reports)",
    )
    parser.add_argument(
        "--loadkit-interval",
        default=DEFAULT_INTERVAL,
        env_var="LOCUST_LOADKIT_INTERVAL",
        include_in_web_ui=True,
        help="seconds per latency interval (default: 1)",
    )
    parser.add_argument(
        "--loadkit-run-name",
        default="",
        env_var="LOCUST_LOADKIT_RUN_NAME",
        include_in_web_ui=True,
        help="name used in the run id (default: the scenario or locustfile name)",
    )
    parser.add_argument(
        "--loadkit-target-pids",
        default="",
        env_var="LOCUST_LOADKIT_TARGET_PIDS",
        include_in_web_ui=True,
        help="target processes to sample, e.g. gateway=1234,agent=1235",
    )
    parser.add_argument(
        "--loadkit-containers",
        default="",
        env_var="LOCUST_LOADKIT_CONTAINERS",
        include_in_web_ui=True,
        help="Docker containers to sample, e.g. gateway,agent",
    )


@dataclass(frozen=True)
class MetricsSettings:
    out_dir: Path
    interval_s: float
    run_name: str
    target_pids: dict[str, int] = field(default_factory=dict)
    containers: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Any, *, check_out_dir: bool = True) -> MetricsSettings:
        """Validate Locust's parsed options; raise :class:`ConfigError` naming the flag."""
        interval = parse_interval(getattr(options, "loadkit_interval", DEFAULT_INTERVAL))
        out_dir = Path(str(getattr(options, "loadkit_out", "") or DEFAULT_OUT)).expanduser()
        if check_out_dir:
            ensure_writable_dir(out_dir)
        pids = parse_target_pids(str(getattr(options, "loadkit_target_pids", "") or ""))
        info = str(getattr(options, "loadkit_target_info", "") or "")
        if info:
            pids = {**read_target_info(Path(info).expanduser()), **pids}
        containers_text = str(getattr(options, "loadkit_containers", "") or "")
        containers = tuple(c.strip() for c in containers_text.split(",") if c.strip())
        return cls(
            out_dir=out_dir,
            interval_s=interval,
            run_name=str(getattr(options, "loadkit_run_name", "") or ""),
            target_pids=pids,
            containers=containers,
        )


def parse_interval(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not (MIN_INTERVAL_S <= value <= MAX_INTERVAL_S):
        raise ConfigError(
            f"{text!r} is not an interval in seconds",
            field="--loadkit-interval",
            fix=f"use {MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g} seconds, e.g. --loadkit-interval 1",
        )
    return value


def ensure_writable_dir(path: Path) -> None:
    """Create ``path`` if needed and prove it can hold files."""
    fix = "pass a writable folder with --loadkit-out DIR"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"'{path}' is not a folder", field="--loadkit-out", fix=fix)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".loadkit-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot write to '{path}' ({reason})", field="--loadkit-out", fix=fix
        ) from None


def parse_target_pids(text: str) -> dict[str, int]:
    """``gateway=1234,agent=1235`` → ``{"gateway": 1234, "agent": 1235}``."""
    pids: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        label, sep, pid_text = item.partition("=")
        if not sep or not label.strip() or not pid_text.strip().isdigit() or int(pid_text) <= 0:
            raise ConfigError(
                f"{item!r} is not LABEL=PID",
                field="--loadkit-target-pids",
                fix="write e.g. --loadkit-target-pids gateway=1234,agent=1235",
            )
        pids[label.strip()] = int(pid_text)
    return pids


def read_target_info(path: Path) -> dict[str, int]:
    """Process ids from ``target.json`` (``{"gateway": {"pid": ...}, ...}``) or its folder."""
    file = path / "target.json" if path.is_dir() else path
    fix = "pass the target.json written by 'loadkit target' (or its data dir)"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot read '{file}' ({reason})", field="--loadkit-target-info", fix=fix
        ) from None
    except ValueError:
        raise ConfigError(f"'{file}' is not JSON", field="--loadkit-target-info", fix=fix) from None
    pids: dict[str, int] = {}
    if isinstance(data, dict):
        for label, entry in data.items():
            if isinstance(entry, dict) and isinstance(entry.get("pid"), int):
                pids[str(label)] = entry["pid"]
    if not pids:
        raise ConfigError(f"'{file}' names no process ids", field="--loadkit-target-info", fix=fix)
    return pids
