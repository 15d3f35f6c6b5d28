"""loadkit's Toxiproxy-compatible TCP fault proxy.

``loadkit proxy`` runs a TCP proxy that speaks Toxiproxy's HTTP API, so the
real Toxiproxy server and loadkit's are interchangeable, and so are their
clients. The parts:

    apierror.py   the API's error values (message + HTTP status, as Toxiproxy)
    toxics.py     toxic types, their attributes and validation (the JSON model)
    connection.py one proxied connection: client socket, upstream socket, two links
    link.py       one direction of a connection and its chain of toxics
    proxy.py      a proxy (listener + connections) and the proxy collection
    httpserver.py a small asyncio HTTP/1.1 server for the API
    api.py        the API routes (Toxiproxy's paths, shapes and status codes)
    server.py     run the API and the proxies on one event loop until SIGTERM
    client.py     ToxiproxyClient, the httpx client loadkit's fault backend uses
    process.py    run ``loadkit proxy`` as a child process (tests, benchmarks)
    cli.py        ``loadkit proxy``

Only :mod:`client` is imported by other parts; the server side is loaded by
``loadkit proxy`` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadkit.proxy.client import ProxyApiError, ToxiproxyClient

__all__ = ["ProxyApiError", "ToxiproxyClient"]


def __getattr__(name: str) -> Any:
    """The client on first use: the server (``loadkit proxy``) and ``loadkit run``'s start
    import this package without needing httpx (~35 ms of imports before anything starts)."""
    if name in __all__:
        from loadkit.proxy import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
