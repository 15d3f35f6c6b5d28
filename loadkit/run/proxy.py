"""The fault proxy in front of the built-in target, for scenarios with ``via: proxy`` faults.

``loadkit run`` starts ``loadkit proxy`` (Toxiproxy-compatible) with one proxy,
``gateway``, listening on a free 127.0.0.1 port and forwarding to the target's
gateway. Locust then aims at the proxy, and the fault schedule adds and removes
toxics on it through its API (``--loadkit-proxy-api``, ``--loadkit-proxy-name``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadkit.errors import FaultError, TargetError
from loadkit.proxy.process import ProxyProcess
from loadkit.run.locust import free_port

if TYPE_CHECKING:
    from loadkit.faults.model import FaultSpec

__all__ = ["PROXY_NAME", "RunningProxy", "needs_proxy", "start_proxy"]

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
    upstream = urlsplit(upstream_url)
    listen_port = free_port()
    config = scratch / "proxy.json"
    config.write_text(json.dumps([{
        "name": PROXY_NAME,
        "listen": f"127.0.0.1:{listen_port}",
        "upstream": f"{upstream.hostname}:{upstream.port}",
        "enabled": True,
    }]))  # fmt: skip
    proxy = ProxyProcess(config=config)
    try:
        api = proxy.start()
    except FaultError as exc:
        raise TargetError(str(exc).replace("loadkit proxy", "the fault proxy", 1)) from None
    try:
        yield RunningProxy(api_url=api, url=f"http://127.0.0.1:{listen_port}")
    finally:
        proxy.stop()
