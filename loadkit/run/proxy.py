"""The fault proxy in front of the built-in target, for scenarios with ``via: proxy`` faults.

``loadkit run`` starts ``loadkit proxy`` (Toxiproxy-compatible) with one proxy,
``gateway``, listening on a free 127.0.0.1 port and forwarding to the target's
gateway. Locust then aims at the proxy, and the fault schedule adds and removes
toxics on it through its API (``--loadkit-proxy-api``, ``--loadkit-proxy-name``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadkit.errors import FaultError, TargetError
from loadkit.proxy.process import ProxyProcess
from loadkit.run.locust import free_port

if TYPE_CHECKING:
    from loadkit.faults.model import FaultSpec

__all__ = ["PROXY_NAME", "RunningProxy", "needs_proxy", "spawn_proxy", "start_proxy"]

PROXY_NAME = "gateway"


def needs_proxy(faults: Iterable[FaultSpec]) -> bool:
    """True when any fault of the (parsed) plan goes through the proxy."""
    return any(spec.via == "proxy" for spec in faults)


@dataclass(frozen=True)
class RunningProxy:
    api_url: str
    url: str  # what Locust aims at: http://127.0.0.1:<listen port>
    name: str = PROXY_NAME

    def locust_args(self) -> list[str]:
        return ["--loadkit-proxy-api", self.api_url, "--loadkit-proxy-name", self.name]


@contextlib.contextmanager
def start_proxy(upstream_url: str, scratch: Path) -> Iterator[RunningProxy]:
    """Run ``loadkit proxy`` forwarding to ``upstream_url``; stopped (SIGTERM) on exit."""
    with spawn_proxy(upstream_url, scratch) as (proxy, wait_ready):
        wait_ready()
        yield proxy


@contextlib.contextmanager
def spawn_proxy(
    upstream_url: str, scratch: Path
) -> Iterator[tuple[RunningProxy, Callable[[], None]]]:
    """Start ``loadkit proxy`` without waiting for it: its URLs (ports chosen here) and a
    ``wait_ready()`` that returns once it serves (TargetError if it could not start).

    ``loadkit run`` starts Locust meanwhile (behind its start gate). The proxy
    needs nothing from its upstream to start (it connects per client).
    """
    upstream = urlsplit(upstream_url)
    listen_port = free_port()
    config = scratch / "proxy.json"
    config.write_text(json.dumps([{
        "name": PROXY_NAME,
        "listen": f"127.0.0.1:{listen_port}",
        "upstream": f"{upstream.hostname}:{upstream.port}",
        "enabled": True,
    }]))  # fmt: skip
    proxy = ProxyProcess(port=free_port(), config=config)
    expected = proxy.args[proxy.args.index("--port") + 1]
    running = RunningProxy(
        api_url=f"http://127.0.0.1:{expected}", url=f"http://127.0.0.1:{listen_port}"
    )
    errors: list[FaultError] = []

    def start() -> None:
        try:
            proxy.start()
        except FaultError as exc:
            errors.append(exc)

    starter = threading.Thread(target=start, name="loadkit-proxy-start", daemon=True)
    starter.start()

    def wait_ready() -> None:
        starter.join()
        if errors:
            raise TargetError(str(errors[0]).replace("loadkit proxy", "the fault proxy", 1))
        if proxy.api_url.rstrip("/") != running.api_url:
            raise TargetError(f"the fault proxy's API is at {proxy.api_url}, not {running.api_url}")

    try:
        yield running, wait_ready
    finally:
        starter.join()
        proxy.stop()
