"""Checks of a fault plan against the world, before a run starts (exit 2, one line).

The model (:mod:`loadkit.faults.model`) checks what a plan says; this checks
that it can happen in this run:

- a fault planned at or after the run's end would never fire;
- a process fault names a process that runs (``pid:``, ``pidfile:``), or one
  of the built-in target's (``target: gateway|agent``, which needs
  ``target: builtin``);
- a container fault names a container the Docker engine knows.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from loadkit._proc import alive
from loadkit.errors import FaultError, FaultPlanError
from loadkit.faults.model import FaultSpec

__all__ = ["BUILTIN_PROCESSES", "check_plan"]

BUILTIN_PROCESSES = ("gateway", "agent")


def _error(spec: FaultSpec, key: str, problem: str, fix: str) -> FaultPlanError:
    return FaultPlanError(
        f"fault {spec.name!r}: {problem}",
        source=spec.source,
        line=spec.line,
        field=f"faults[{spec.index}].{key}",
        fix=fix,
    )


def check_plan(specs: Iterable[FaultSpec], *, planned_s: float | None, builtin: bool) -> None:
    """Raise FaultPlanError for the first fault that cannot happen in this run."""
    for spec in specs:
        if planned_s is not None and spec.at_s >= planned_s:
            raise _error(
                spec,
                "at",
                f"at {spec.at_s:g}s is not before the run's end ({planned_s:g}s); it never fires",
                "inject it earlier or make the run longer",
            )
        if spec.via == "process":
            _check_process(spec, builtin)
        elif spec.via == "docker":
            _check_container(spec)


def _check_process(spec: FaultSpec, builtin: bool) -> None:
    p = spec.params
    if p.get("target"):
        if not builtin:
            raise _error(
                spec,
                "target",
                f"names the built-in target's process {p['target']!r}, but this run's "
                "target is not builtin",
                "use target: builtin, or pid:/pidfile: for your own process",
            )
        if p["target"] not in BUILTIN_PROCESSES:
            raise _error(
                spec,
                "target",
                f"the built-in target has no process {p['target']!r}",
                f"use one of {', '.join(BUILTIN_PROCESSES)}",
            )
        return
    if p.get("pid") is not None:
        if not alive(int(p["pid"])):
            raise _error(spec, "pid", f"no process {p['pid']} is running", "give a running pid")
        return
    path = Path(str(p.get("pidfile")))
    try:
        pid = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise _error(spec, "pidfile", f"cannot read {path}: {exc}", "name a pidfile") from None
    if not alive(pid):
        raise _error(
            spec, "pidfile", f"{path} names pid {pid}, which is not running", "start it first"
        )


def _check_container(spec: FaultSpec) -> None:
    from loadkit.faults.backends.base import BackendContext
    from loadkit.faults.backends.docker import DockerBackend

    key = "container" if spec.params.get("container") else "label"
    try:
        DockerBackend(BackendContext()).containers(spec)
    except FaultError as exc:
        raise _error(spec, key, str(exc), "name an existing container") from None
