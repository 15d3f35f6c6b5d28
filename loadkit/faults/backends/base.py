"""The one small interface every fault backend implements, and how to get one.

A backend is built from a :class:`BackendContext` (what the run knows about
its surroundings: the host, the target's ``target.json``, the proxy API) and
turns a :class:`~loadkit.faults.model.FaultSpec` into an action. Backends keep
no state between ``inject`` and ``revert``: everything ``revert`` needs is in
the spec and the context, so a fresh process (``loadkit faults recover``) can
undo a fault from the journal alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from loadkit.faults.model import FaultSpec

__all__ = ["BACKEND_MODULES", "BackendContext", "BackendSet", "Effect", "FaultBackend"]

DEFAULT_PROXY_API = "http://127.0.0.1:8474"


@dataclass(frozen=True)
class Effect:
    """When an action really took effect (wall clock), when a backend knows better.

    ``at``: for an inject, when the signal was sent or the call made; for a
    revert, when the subject answered again. ``until``: for an instant fault
    (``restart``), when the subject answered again (the end of its window).
    A backend returning None leaves the schedule's own clock in charge.
    """

    at: float
    until: float | None = None


class FaultBackend(Protocol):
    """Injects and reverts one family of faults (proxy, process, docker, http).

    Backends subclass it explicitly, so the checker holds them to it and they
    inherit the no-op ``prepare``.
    """

    def prepare(self, spec: FaultSpec) -> None:
        """Get ready for ``spec`` before the run (e.g. open an API client): nothing by default."""
        del spec

    def inject(self, spec: FaultSpec) -> Effect | None: ...

    def revert(self, spec: FaultSpec) -> Effect | None: ...

    def describe(self, spec: FaultSpec) -> str: ...


@dataclass(frozen=True)
class BackendContext:
    """What backends may need beyond the spec; stored in the journal with each fault."""

    host: str | None = None
    target_info: str | None = None
    proxy_api: str = DEFAULT_PROXY_API
    proxy_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackendContext:
        known = {
            k: data[k] for k in ("host", "target_info", "proxy_api", "proxy_name") if k in data
        }
        return cls(**known)


# via -> (module, class): imported only when a fault of that backend is used,
# so a plan without docker faults never imports the docker SDK.
BACKEND_MODULES: dict[str, tuple[str, str]] = {
    "proxy": ("loadkit.faults.backends.proxy", "ProxyBackend"),
    "process": ("loadkit.faults.backends.process", "ProcessBackend"),
    "docker": ("loadkit.faults.backends.docker", "DockerBackend"),
    "http": ("loadkit.faults.backends.http", "HttpBackend"),
    "exec": ("loadkit.faults.backends.exec", "ExecBackend"),
}


class BackendSet:
    """One backend instance per ``via``, built on first use."""

    def __init__(self, context: BackendContext) -> None:
        self.context = context
        self._backends: dict[str, FaultBackend] = {}

    def for_spec(self, spec: FaultSpec) -> FaultBackend:
        backend = self._backends.get(spec.via)
        if backend is None:
            module_name, class_name = BACKEND_MODULES[spec.via]
            build: Callable[[BackendContext], FaultBackend] = getattr(
                importlib.import_module(module_name), class_name
            )
            backend = self._backends[spec.via] = build(self.context)
        return backend

    def prepare(self, specs: list[FaultSpec]) -> None:
        """Import, build and prepare every backend a plan needs now, not at its first fault,
        so the first inject is as prompt as the others."""
        for spec in specs:
            self.for_spec(spec).prepare(spec)

    def inject(self, spec: FaultSpec) -> Effect | None:
        return self.for_spec(spec).inject(spec)

    def revert(self, spec: FaultSpec) -> Effect | None:
        return self.for_spec(spec).revert(spec)

    def describe(self, spec: FaultSpec) -> str:
        return self.for_spec(spec).describe(spec)
