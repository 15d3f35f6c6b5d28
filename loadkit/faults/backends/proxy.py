"""Network faults through a Toxiproxy-compatible proxy (``loadkit proxy`` or Toxiproxy).

Each fault is one toxic named ``loadkit-<fault name>`` on a proxy (``proxy:``,
default ``--loadkit-proxy-name``), added on inject and removed on revert, so a
fresh process can revert it by name. ``down`` disables the proxy instead (and
enables it again on revert). Each toxic and disable carries its owner, this
process (``loadkit.proxy.owner``): ``loadkit proxy`` undoes it within a second
when the process is gone, so a killed run leaves no network fault behind
(Toxiproxy ignores the field; there the next start or ``loadkit faults
recover`` removes it). Parameters are converted to Toxiproxy's units:

| kind | attributes |
|---|---|
| latency | ``latency`` ms, ``jitter`` ms |
| bandwidth | ``rate`` KB/s (``rate: 100KB`` = 100 KB per second) |
| timeout, reset_peer | ``timeout`` ms (0 = until removed / at once) |
| slicer | ``average_size``, ``size_variation`` bytes, ``delay`` µs |
| limit_data | ``bytes`` |
| slow_close | ``delay`` ms |
"""

from __future__ import annotations

from typing import Any

from loadkit.errors import FaultError, LoadkitError
from loadkit.faults.backends.base import BackendContext, FaultBackend
from loadkit.faults.model import FaultSpec

__all__ = ["ProxyBackend", "toxic_attributes", "toxic_name"]


def toxic_name(spec: FaultSpec) -> str:
    return f"loadkit-{spec.name}"


def toxic_attributes(spec: FaultSpec) -> dict[str, int]:
    """The Toxiproxy attributes of a proxy fault (integers, Toxiproxy's units)."""
    p = spec.params

    def ms(key: str) -> int:
        return round(float(p[key]) * 1000)

    if spec.kind == "latency":
        return {"latency": ms("latency"), "jitter": ms("jitter")}
    if spec.kind == "bandwidth":
        return {"rate": max(1, int(p["rate"]) // 1000)}  # Toxiproxy's KB/s is 1000 bytes/s
    if spec.kind in ("timeout", "reset_peer"):
        return {"timeout": ms("timeout")}
    if spec.kind == "slicer":
        return {
            "average_size": int(p["average_size"]),
            "size_variation": int(p["size_variation"]),
            "delay": round(float(p["delay"]) * 1_000_000),
        }
    if spec.kind == "limit_data":
        return {"bytes": int(p["bytes"])}
    if spec.kind == "slow_close":
        return {"delay": ms("delay")}
    return {}


class ProxyBackend(FaultBackend):
    """Adds and removes toxics through ``loadkit.proxy.client.ToxiproxyClient``."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context
        self._clients: dict[str, Any] = {}

    def _client(self, spec: FaultSpec) -> Any:
        api = spec.params.get("api") or self.context.proxy_api
        if api not in self._clients:
            from loadkit.proxy.client import ToxiproxyClient

            self._clients[api] = ToxiproxyClient(api)
        return self._clients[api]

    def _proxy(self, spec: FaultSpec) -> str:
        proxy = spec.params.get("proxy") or self.context.proxy_name
        if not proxy:
            raise FaultError(
                f"fault {spec.name}: no proxy named; set 'proxy:' or --loadkit-proxy-name"
            )
        return str(proxy)

    def prepare(self, spec: FaultSpec) -> None:
        self._client(spec)

    def describe(self, spec: FaultSpec) -> str:
        proxy = spec.params.get("proxy") or self.context.proxy_name or "(--loadkit-proxy-name)"
        if spec.kind == "down":
            return f"disable proxy {proxy}"
        attrs = ", ".join(f"{k}={v}" for k, v in toxic_attributes(spec).items())
        return f"{spec.kind} toxic on proxy {proxy} ({spec.params['stream']}: {attrs})"

    def inject(self, spec: FaultSpec) -> None:
        client, proxy = self._client(spec), self._proxy(spec)
        try:
            if spec.kind == "down":
                client.set_enabled(proxy, False, owner=_owner())
                return
            client.add_toxic(
                proxy,
                spec.kind,
                toxic_attributes(spec),
                name=toxic_name(spec),
                stream=spec.params["stream"],
                toxicity=float(spec.params["toxicity"]),
                owner=_owner(),
            )
        except LoadkitError:
            raise  # the client's ProxyApiError / FaultPlanError: already one clear line
        except Exception as exc:
            raise FaultError(f"proxy {proxy}: {exc}") from None

    def revert(self, spec: FaultSpec) -> None:
        client, proxy = self._client(spec), self._proxy(spec)
        try:
            if spec.kind == "down":
                client.set_enabled(proxy, True)
            else:
                client.remove_toxic(proxy, toxic_name(spec))
        except Exception as exc:
            if spec.kind != "down" and _is_not_found(exc):
                return  # the toxic is already gone: nothing left to revert
            if isinstance(exc, LoadkitError):
                raise
            raise FaultError(f"proxy {proxy}: {exc}") from None


def _owner() -> dict[str, Any]:
    """This process as the owner of the faults it adds (it is the run's fault scheduler)."""
    from loadkit.proxy.owner import Owner

    return Owner.this_process().to_json()


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "status", None) == 404
