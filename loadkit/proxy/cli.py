"""``loadkit proxy``: run the Toxiproxy-compatible TCP fault proxy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError

DEFAULT_PORT = 8474  # Toxiproxy's


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "proxy",
        help="run the Toxiproxy-compatible TCP fault proxy",
        description=(
            "Run a TCP fault proxy that speaks Toxiproxy's HTTP API (real Toxiproxy "
            "clients work against it). The first line printed is the API URL, "
            "'api: http://HOST:PORT'. Stops cleanly on SIGTERM or Ctrl-C."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"API port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON list of proxies to create at start, as Toxiproxy's -config",
    )
    parser.add_argument(
        "--allow-non-loopback",
        "--allow-remote",
        dest="allow_remote",
        action="store_true",
        help="let the API and the proxies listen on non-loopback addresses "
        "(default: loopback only; the API has no authentication)",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise ConfigError(
            f"{args.port} is not a port", field="--port", fix="use 0..65535 (0 picks a free port)"
        )
    from loadkit.proxy.server import run
    from loadkit.safety.loopback import check_loopback

    check_loopback(args.host, args.allow_remote)

    return run(
        args.host, args.port, config=args.config, allow_remote=args.allow_remote, announce=_announce
    )


def _announce(api_url: str, proxies: list[Any]) -> None:
    print(f"api: {api_url}", flush=True)
    for proxy in proxies:
        print(f"proxy {proxy.name}: {proxy.listen} -> {proxy.upstream}", flush=True)
