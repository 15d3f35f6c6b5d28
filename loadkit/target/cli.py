"""``loadkit target``: start the reference target (gateway + agent) and keep it running.

Prints ``gateway: http://127.0.0.1:PORT`` as the first line (flushed), then
``agent: ...`` and ``data: DIR``; stops both processes cleanly on Ctrl-C or
SIGTERM. Binds to loopback unless ``--allow-non-loopback`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from loadkit.errors import EXIT_OK, ConfigError
from loadkit.safety.janitor import Janitor
from loadkit.safety.loopback import check_loopback
from loadkit.target.config import (
    AgentConfig,
    TargetConfig,
    add_break_arguments,
    add_config_arguments,
    break_fields,
)
from loadkit.target.launcher import start_target

__all__ = ["handler", "register"]

GATEWAY_OPTIONS = (
    "queue_limit",
    "response_ttl_s",
    "cleanup_interval_s",
    "lease_s",
    "max_body_bytes",
    "cold_start_ms",
    "warm_start_ms",
    "idle_after_s",
    "expire_after_s",
    "session_queue_limit",
    "session_activation_rate",
    "session_activation_burst",
    "sync_max_body_bytes",
    "sync_max_changes",
)
AGENT_OPTIONS = ("concurrency", "heartbeat_s", "request_timeout_s", "breaker_failures")
BREAK_OPTIONS = tuple(sorted(break_fields(TargetConfig) | break_fields(AgentConfig)))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "target",
        help="start the reference target (gateway + agent) on 127.0.0.1",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="gateway port (default: any free)")
    parser.add_argument("--agent-port", type=int, default=0, help="agent port (default: any free)")
    parser.add_argument("--data-dir", default=None, help="state folder (default: a new temp dir)")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow --host to be an address other than loopback (exposes the target)",
    )
    add_config_arguments(parser, TargetConfig, only=set(GATEWAY_OPTIONS))
    add_config_arguments(parser, AgentConfig, only=set(AGENT_OPTIONS))
    add_break_arguments(parser)
    parser.set_defaults(func=handler)


def _check_port(value: int, flag: str) -> None:
    if not 0 <= value <= 65535:
        raise ConfigError(f"{value} is not a port", field=flag, fix="use 0 (any) to 65535")


def handler(args: argparse.Namespace) -> int:
    check_loopback(args.host, args.allow_non_loopback)
    _check_port(args.port, "--port")
    _check_port(args.agent_port, "--agent-port")
    for name in (*GATEWAY_OPTIONS, *AGENT_OPTIONS):
        if getattr(args, name) < 0:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{getattr(args, name)} is negative", field=flag, fix="use >= 0")
    own_dir = not args.data_dir  # a temp dir of ours is removed again on exit
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="loadkit-"))
    options = {
        name: getattr(args, name) for name in (*GATEWAY_OPTIONS, *AGENT_OPTIONS, *BREAK_OPTIONS)
    }
    broken = [name for name in BREAK_OPTIONS if options[name]]
    if broken:
        print(f"target: deliberately broken: {', '.join(broken)}", file=sys.stderr, flush=True)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    janitor = Janitor().start()  # removes our temp folder even after a kill -9
    if own_dir:
        janitor.tell("remove", str(data_dir))
    try:
        target = start_target(
            data_dir, host=args.host, port=args.port, agent_port=args.agent_port, **options
        )
    except BaseException:
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        janitor.cancel()
        raise
    try:
        print(f"gateway: {target.url}", flush=True)
        print(f"agent: {target.agent_url}", flush=True)
        print(f"data: {target.data_dir}", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        target.stop()
        signal.signal(signal.SIGTERM, previous)
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        janitor.cancel()
    print("target stopped", file=sys.stderr, flush=True)
    return EXIT_OK
