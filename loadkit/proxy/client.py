"""ToxiproxyClient: a small client for the Toxiproxy HTTP API.

Works against ``loadkit proxy`` and a real Toxiproxy server alike. Failures
raise :class:`ProxyApiError` (a :class:`~loadkit.errors.FaultError`, with the
HTTP ``status``) or, when the server rejects a parameter (HTTP 400) or a
parameter is wrong before sending, :class:`~loadkit.errors.FaultPlanError`.

    client = ToxiproxyClient("http://127.0.0.1:8474")
    client.create_proxy("db", "127.0.0.1:0", "127.0.0.1:5432")
    name = client.add_toxic("db", "latency", {"latency": 500, "jitter": 50})
    client.remove_toxic("db", name)

``owner=`` (on ``add_toxic`` and ``set_enabled``) names the process whose fault
it is; ``loadkit proxy`` undoes it when that process is gone (see
:mod:`loadkit.proxy.owner`). Toxiproxy ignores it.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict
from urllib.parse import quote

import httpx

from loadkit.errors import FaultError, FaultPlanError

STREAMS = ("upstream", "downstream")


class ToxicInfo(TypedDict):
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]
    owner: NotRequired[dict[str, Any]]


class ProxyInfo(TypedDict):
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: list[ToxicInfo]


class ProxyApiError(FaultError):
    """The proxy API answered with an error (``status``) or could not be reached (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ToxiproxyClient:
    """Client of one Toxiproxy-compatible API (``loadkit proxy`` or Toxiproxy)."""

    def __init__(self, api_url: str = "http://127.0.0.1:8474", *, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            headers={"User-Agent": "loadkit-toxiproxy-client"},
            trust_env=False,  # never route the local API through a proxy from the environment
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server --------------------------------------------------------------------
    def version(self) -> str:
        """The server's version (JSON ``{"version"}`` or, from old servers, plain text)."""
        response = self._request("GET", "/version")
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()
        return str(body["version"]) if isinstance(body, dict) and "version" in body else str(body)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset")

    # -- proxies -------------------------------------------------------------------
    def list_proxies(self) -> dict[str, ProxyInfo]:
        result: dict[str, ProxyInfo] = self._request("GET", "/proxies").json()
        return result

    def get_proxy(self, name: str) -> ProxyInfo:
        result: ProxyInfo = self._request("GET", f"/proxies/{_seg(name)}").json()
        return result

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyInfo:
        """Create a proxy; ``listen`` with port 0 picks a free port (see the result)."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        result: ProxyInfo = self._request("POST", "/proxies", json=body).json()
        return result

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{_seg(name)}")

    def set_enabled(
        self, name: str, enabled: bool, *, owner: dict[str, Any] | None = None
    ) -> ProxyInfo:
        """Enable, or disable ("down": close connections, refuse new ones), a proxy."""
        body: dict[str, Any] = {"enabled": enabled}
        if owner is not None:
            body["owner"] = owner
        result: ProxyInfo = self._request("POST", f"/proxies/{_seg(name)}", json=body).json()
        return result

    def populate(self, proxies: list[dict[str, Any]]) -> list[ProxyInfo]:
        """Create or replace proxies (``POST /populate``)."""
        result: list[ProxyInfo] = self._request("POST", "/populate", json=proxies).json()["proxies"]
        return result

    # -- toxics ------------------------------------------------------------------------
    def list_toxics(self, proxy: str) -> list[ToxicInfo]:
        result: list[ToxicInfo] = self._request("GET", f"/proxies/{_seg(proxy)}/toxics").json()
        return result

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any],
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        owner: dict[str, Any] | None = None,
    ) -> str:
        """Add a toxic to ``proxy``; returns its name (default ``<type>_<stream>``)."""
        if stream not in STREAMS:
            raise FaultPlanError(
                f"{stream!r} is not a stream", field="stream", fix="use upstream or downstream"
            )
        if not 0.0 <= toxicity <= 1.0:
            raise FaultPlanError(
                f"{toxicity!r} is not a probability", field="toxicity", fix="use 0.0 to 1.0"
            )
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        if name:
            body["name"] = name
        if owner is not None:
            body["owner"] = owner
        path = f"/proxies/{_seg(proxy)}/toxics"
        created: ToxicInfo = self._request("POST", path, json=body, what=f"{type} toxic").json()
        return created["name"]

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._request("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}")

    # -- transport ---------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, json: Any = None, what: str = ""
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise ProxyApiError(
                f"cannot reach the proxy API at {self.api_url}: {exc}; "
                "start it with 'loadkit proxy' or check the URL"
            ) from None
        if response.status_code < 400:
            return response
        try:
            message = str(response.json().get("error", response.text))
        except (ValueError, AttributeError):
            message = response.text.strip() or response.reason_phrase
        where = f"{method} {path}"
        if response.status_code == 400:
            raise FaultPlanError(
                message, field=what or where, fix="check the toxic type and its attributes"
            )
        raise ProxyApiError(
            f"{where} failed with HTTP {response.status_code}: {message}", response.status_code
        )


def _seg(name: str) -> str:
    """A name as one URL path segment."""
    return quote(name, safe="")
