"""Container faults through the Docker SDK: pause, stop, kill, restart, disconnect.

Containers are named by ``container: NAME`` (name or id) or ``label: key=value``
(every container with that label, running or not). Reverts: ``pause`` →
unpause, ``stop``/``kill`` → start, ``disconnect`` → connect to the same
``network``; ``restart`` has nothing to revert. The SDK is imported only when a
docker fault is used.
"""

from __future__ import annotations

from typing import Any

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext, FaultBackend
from loadkit.faults.model import FaultSpec

__all__ = ["DockerBackend"]


class DockerBackend(FaultBackend):
    """Acts on containers of the local Docker engine (``DOCKER_HOST`` or the default socket)."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env()
                self._client.ping()
            except Exception as exc:
                self._client = None
                raise FaultError(f"no Docker engine: {exc}") from None
        return self._client

    def containers(self, spec: FaultSpec) -> list[Any]:
        import docker.errors

        client = self.client()
        try:
            if spec.params.get("container"):
                return [client.containers.get(spec.params["container"])]
            found = client.containers.list(all=True, filters={"label": spec.params["label"]})
        except docker.errors.NotFound:
            raise FaultError(f"no container {spec.params['container']!r}") from None
        except docker.errors.DockerException as exc:
            raise FaultError(f"docker: {exc}") from None
        if not found:
            raise FaultError(f"no container has label {spec.params['label']!r}")
        return list(found)

    def describe(self, spec: FaultSpec) -> str:
        action = {
            "pause": "pause (revert: unpause)",
            "stop": "stop (revert: start)",
            "kill": "kill (revert: start)",
            "restart": "restart",
            "disconnect": f"disconnect from network {spec.params.get('network')} (revert: connect)",
        }[spec.kind]
        return f"{action} {spec.target}"

    def inject(self, spec: FaultSpec) -> None:
        timeout = round(float(spec.params["timeout"]))
        self._each(
            spec,
            "inject",
            {
                "pause": lambda c: c.pause(),
                "stop": lambda c: c.stop(timeout=timeout),
                "kill": lambda c: c.kill(),
                "restart": lambda c: c.restart(timeout=timeout),
                "disconnect": lambda c: self._network(spec).disconnect(c),
            }[spec.kind],
        )

    def revert(self, spec: FaultSpec) -> None:
        if spec.kind == "restart":
            return
        self._each(
            spec,
            "revert",
            {
                "pause": _unpause,
                "stop": _start,
                "kill": _start,
                "disconnect": lambda c: self._connect(spec, c),
            }[spec.kind],
        )

    def _network(self, spec: FaultSpec) -> Any:
        import docker.errors

        try:
            return self.client().networks.get(spec.params["network"])
        except docker.errors.NotFound:
            raise FaultError(f"no docker network {spec.params['network']!r}") from None

    def _connect(self, spec: FaultSpec, container: Any) -> None:
        container.reload()
        if spec.params["network"] in (container.attrs.get("NetworkSettings") or {}).get(
            "Networks", {}
        ):
            return
        self._network(spec).connect(container)

    def _each(self, spec: FaultSpec, action: str, act: Any) -> None:
        import docker.errors

        for container in self.containers(spec):
            try:
                act(container)
            except docker.errors.DockerException as exc:
                raise FaultError(f"{action} {spec.kind} {container.name}: {exc}") from None


def _unpause(container: Any) -> None:
    container.reload()
    if container.status == "paused":
        container.unpause()


def _start(container: Any) -> None:
    container.reload()
    if container.status != "running":
        container.start()
