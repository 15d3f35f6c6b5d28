"""Settings of the reference target's two processes, and their command-line form.

:class:`TargetConfig` is what the gateway (and every route module mounted in
it: jobs, sessions, tasks, app faults) reads. :class:`AgentConfig` is what the
agent reads. Both turn into and back from command-line flags, so the launcher
can build a ``cmd`` that restarts a process with the same settings.

Fields named ``break_*`` are not settings: each breaks one behaviour of the
target on purpose (off by default), so that a test plan's twin can prove its
check fails when that behaviour is broken. ``--help`` lists them in their own
group, "deliberately broken behaviour (for testing loadkit)".
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from loadkit.errors import ConfigError

__all__ = [
    "AT_LEAST_ONE",
    "BREAK_GROUP",
    "BREAK_PREFIX",
    "AgentConfig",
    "TargetConfig",
    "add_break_arguments",
    "add_config_arguments",
    "break_fields",
    "config_from_args",
    "to_argv",
]

MiB = 1024 * 1024
BREAK_PREFIX = "break_"
BREAK_GROUP = "deliberately broken behaviour (for testing loadkit)"
# Fields that must be at least 1 (a limit of 0 would refuse everything).
AT_LEAST_ONE = {
    "sync_max_body_bytes",
    "sync_max_changes",
    "session_queue_limit",
    "session_activation_burst",
}


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class TargetConfig:
    """Gateway settings (jobs, sessions, tasks, faults share this object)."""

    data_dir: Path = field(
        default=Path("."), metadata=_help("folder for the SQLite database, outbox and logs")
    )
    host: str = field(default="127.0.0.1", metadata=_help("address to bind"))
    port: int = field(
        default=0,
        metadata=_help("port to bind (0 = any free port, reported in <data-dir>/gateway.port)"),
    )
    queue_limit: int = field(
        default=10000, metadata=_help("queued jobs accepted before POST /execute answers 429")
    )
    max_body_bytes: int = field(
        default=1 * MiB, metadata=_help("largest request body accepted by public endpoints")
    )
    max_result_bytes: int = field(
        default=160 * MiB, metadata=_help("largest result body the agent may deliver")
    )
    response_ttl_s: float = field(
        default=3600.0, metadata=_help("age after which /cleanup/run deletes responses")
    )
    cleanup_interval_s: float = field(
        default=60.0, metadata=_help("period of the automatic cleanup (0 = never)")
    )
    lease_s: float = field(
        default=10.0,
        metadata=_help("a claimed job whose agent stops heartbeating is requeued after this"),
    )
    agent_stale_s: float = field(
        default=5.0, metadata=_help("/health reports 'degraded' after this long without heartbeat")
    )
    cold_start_ms: int = field(default=800, metadata=_help("session cold start"))
    warm_start_ms: int = field(
        default=50, metadata=_help("session warm start (same user+project has a live container)")
    )
    idle_after_s: float = field(
        default=30.0, metadata=_help("a ready session without activity becomes idle after this")
    )
    expire_after_s: float = field(
        default=60.0, metadata=_help("an idle session expires after this")
    )
    session_queue_limit: int = field(
        default=100, metadata=_help("messages waiting in one session's queue before 429")
    )
    session_activation_rate: float = field(
        default=0.0,
        metadata=_help("session activations per second per client_id, then 429 (0 = no limit)"),
    )
    session_activation_burst: int = field(
        default=10, metadata=_help("session activations one client_id may start at once")
    )
    sync_max_body_bytes: int = field(
        default=1 * MiB, metadata=_help("largest body of a tasks-sync request (413 above)")
    )
    sync_max_changes: int = field(
        default=1000, metadata=_help("most changes in one POST /repos/{repo}/sync (400 above)")
    )
    watch_pid: int = field(
        default=0, metadata=_help("exit when this process is gone (0 = don't watch)")
    )
    break_expired_leases_not_requeued: bool = field(
        default=False,
        metadata=_help("BROKEN ON PURPOSE: a job whose agent died is never run again (a lost job)"),
    )
    break_sync_event_dropped: bool = field(
        default=False,
        metadata=_help("BROKEN ON PURPOSE: the task event of every 10th seq of a repo is not sent"),
    )
    break_session_messages_reordered: bool = field(
        default=False,
        metadata=_help("BROKEN ON PURPOSE: a session runs its newest queued message first"),
    )
    break_sessions_forgotten_on_restart: bool = field(
        default=False,
        metadata=_help("BROKEN ON PURPOSE: a gateway (re)start deletes every session (lost)"),
    )

    def __post_init__(self) -> None:
        _check_numbers(self)

    @property
    def db_path(self) -> Path:
        """The gateway's SQLite database (WAL); each part keeps its own tables in it."""
        return self.data_dir / "gateway.db"


@dataclass(frozen=True)
class AgentConfig:
    """Agent settings."""

    gateway_url: str = field(default="http://127.0.0.1:8080", metadata=_help("gateway base URL"))
    data_dir: Path = field(
        default=Path("."), metadata=_help("folder for the outbox and workspace state")
    )
    host: str = field(default="127.0.0.1", metadata=_help("address of the agent's own /health"))
    port: int = field(
        default=0,
        metadata=_help("port of the agent's /health (0 = any, reported in <data-dir>/agent.port)"),
    )
    concurrency: int = field(default=4, metadata=_help("jobs run at the same time"))
    poll_s: float = field(
        default=0.05, metadata=_help("pause between claims when the queue is empty")
    )
    heartbeat_s: float = field(
        default=0.25, metadata=_help("heartbeat period (also how fast interrupts are seen)")
    )
    request_timeout_s: float = field(
        default=3.0, metadata=_help("timeout of one call to the gateway")
    )
    backoff_base_s: float = field(
        default=0.1, metadata=_help("first retry delay of a failed callback")
    )
    backoff_max_s: float = field(default=5.0, metadata=_help("largest retry delay"))
    breaker_failures: int = field(
        default=3, metadata=_help("consecutive failures that open the circuit breaker")
    )
    breaker_open_s: float = field(
        default=2.0, metadata=_help("time the breaker stays open before a half-open trial")
    )
    watch_pid: int = field(
        default=0, metadata=_help("exit when this process is gone (0 = don't watch)")
    )
    break_breaker_never_opens: bool = field(
        default=False,
        metadata=_help("BROKEN ON PURPOSE: the callback circuit breaker never opens"),
    )
    break_callbacks_not_retried: bool = field(
        default=False,
        metadata=_help(
            "BROKEN ON PURPOSE: a result whose first callback fails is dropped, never retried"
        ),
    )

    def __post_init__(self) -> None:
        _check_numbers(self)


def _check_numbers(config: Any) -> None:
    """Numbers are >= 0 (limits >= 1); a bad one is a ConfigError naming its flag."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        low = 1 if f.name in AT_LEAST_ONE else 0
        if not value >= low:  # also refuses NaN
            raise ConfigError(
                f"{f.name} = {value} is out of range", field=_flag(f.name), fix=f"use >= {low}"
            )


C = TypeVar("C", TargetConfig, AgentConfig)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def break_fields(cls: type[Any]) -> set[str]:
    """The ``break_*`` fields of ``cls`` (each breaks one behaviour on purpose)."""
    return {f.name for f in fields(cls) if f.name.startswith(BREAK_PREFIX)}


def add_config_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type[Any],
    *,
    only: set[str] | None = None,
) -> None:
    """Add one ``--flag`` per field of ``cls`` (or of the fields named in ``only``).

    A bool field is a switch: ``--flag`` / ``--no-flag``.
    """
    for f in fields(cls):
        if only is not None and f.name not in only:
            continue
        if isinstance(f.default, bool):
            parser.add_argument(
                _flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=f.metadata["help"],
            )
            continue
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            type=type(f.default),
            default=f.default,
            help=f"{f.metadata['help']} (default: {f.default})",
        )


def add_break_arguments(parser: argparse.ArgumentParser) -> list[str]:
    """Add every ``break_*`` switch of both configs in their own help group; returns names."""
    group = parser.add_argument_group(BREAK_GROUP)
    names: list[str] = []
    for cls in (TargetConfig, AgentConfig):
        only = break_fields(cls)
        add_config_arguments(group, cls, only=only)
        names += sorted(only)
    return names


def config_from_args(cls: type[C], args: argparse.Namespace, **overrides: Any) -> C:
    """Build ``cls`` from parsed arguments (missing ones keep their defaults)."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        if hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    values.update(overrides)
    return cls(**values)


def to_argv(config: TargetConfig | AgentConfig) -> list[str]:
    """The flags that rebuild ``config`` through :func:`config_from_args`."""
    argv: list[str] = []
    for name, value in dataclasses.asdict(config).items():
        if isinstance(value, bool):
            argv.append(_flag(name) if value else "--no-" + name.replace("_", "-"))
        else:
            argv += [_flag(name), str(value)]
    return argv
