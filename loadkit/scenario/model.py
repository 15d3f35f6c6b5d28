"""Scenario files: one YAML file per named run; :class:`Scenario` is one, validated.

A scenario says who the users are, how load changes over time, which faults to
inject and what "good" means::

    name: workspace-gateway
    target: builtin                  # or the URL of a running service
    locustfile: locustfiles/mixed.py # default: chosen from the user classes
    service: builtin                 # or a profile name / file / inline (scenario/service.py)
    users: {WorkspaceUser: 3, SyncClientUser: 1}
    stages:                          # or: shape: {kind: ramp|steps|spike|soak, ...}
      - {duration: 20s, users: 20, spawn_rate: 10}
      - {duration: 60s, users: 50}   # spawn_rate defaults to the previous stage's
    faults: [...]                    # validated by loadkit.faults.model
    checks: [p95(POST /execute) < 250ms]
    baseline: reports/baselines/workspace-gateway.json
    options: {poll-interval: 0.5}    # extra Locust arguments: --poll-interval 0.5
    interval: 1s                     # metrics interval

Every error names the file, the line, the field and the fix, in one line::

    scenarios/x.yaml:7: stages[1].duration: 'abc' is not a duration; write e.g. '30s' or '2m'

Relative paths (``locustfile``, ``baseline``) are looked up in the current
folder, then the scenario's folder, then the project folder.

:func:`loadkit.scenario.load.load_scenario` reads and validates a file into a
:class:`Scenario`. Stages and shapes are validated by :mod:`loadkit.load.stages`
(the one table of shape kinds, no Locust), so ``loadkit run`` checks a scenario completely, and
learns its planned length, without gevent's monkey-patching. The Locust side
(``--loadkit-scenario FILE``) is :mod:`loadkit.scenario.plugin`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadkit.load.stages import Stage, StagePlan, expand

if TYPE_CHECKING:
    from loadkit.faults.model import FaultSpec

__all__ = ["Scenario", "default_scenario_path", "project_root"]


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file. Paths are absolute; durations are seconds."""

    name: str
    source: Path
    target: str  # "builtin" or a URL
    locustfile: Path
    users: dict[str, int]
    stages: tuple[Stage, ...] = ()
    shape: dict[str, Any] | None = None  # {"kind": ..., **params} when there are no stages
    faults: tuple[FaultSpec, ...] = ()  # parsed once at load, with file:line; handed on as is
    checks: tuple[str, ...] = ()
    baseline: str | None = None
    options: dict[str, str | int | float | bool] = field(default_factory=dict)
    interval_s: float | None = None
    description: str = ""

    @property
    def path(self) -> Path:
        return self.source

    @property
    def builtin_target(self) -> bool:
        return self.target == "builtin"

    @property
    def shape_params(self) -> dict[str, Any]:
        """The ``shape:`` parameters without its ``kind`` (empty for ``stages:``)."""
        return {k: v for k, v in (self.shape or {}).items() if k != "kind"}

    @property
    def plan(self) -> StagePlan:
        """The stages the run follows: ``stages:`` as written, or a ``shape:`` expanded."""
        if self.shape is None:
            return StagePlan(self.stages)
        return StagePlan(expand(self.shape["kind"], self.shape_params, source=str(self.source)))

    @property
    def duration_s(self) -> float:
        """Planned length of the run, in seconds (of its stages or its shape)."""
        return self.plan.total_duration_s

    @property
    def peak_users(self) -> int:
        return self.plan.peak_users

    def locust_option_args(self) -> list[str]:
        """The ``options:`` mapping as Locust command-line arguments."""
        args: list[str] = []
        for key, value in self.options.items():
            if value is True:
                args.append(f"--{key}")
            elif value is not False:
                args += [f"--{key}", str(value)]
        return args


def project_root() -> Path:
    """The folder holding locustfiles/ and scenarios/: the clone, else the current folder
    if it has them, else the copies shipped in the package (:mod:`loadkit.examples`)."""
    clone = Path(__file__).resolve().parents[2]
    if (clone / "locustfiles").is_dir():
        return clone
    if (Path.cwd() / "locustfiles").is_dir() or (Path.cwd() / "scenarios").is_dir():
        return Path.cwd()
    from loadkit.examples import EXAMPLES

    return EXAMPLES


def default_scenario_path() -> Path:
    return project_root() / "scenarios" / "quickstart.yaml"
