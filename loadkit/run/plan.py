"""The plan of a run: the scenario and flags of ``loadkit run``, validated.

Everything a user wrote is checked here before anything starts (bad input is
a :class:`~loadkit.errors.ConfigError`, exit 2): the scenario, its faults
against the planned length and the target, the flags, the baseline. The
planned length comes from :mod:`loadkit.load.stages`, so no Locust (gevent)
is imported to plan.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from loadkit.errors import ConfigError, ScenarioError
from loadkit.run.proxy import needs_proxy
from loadkit.scenario.load import load_scenario, refuse_stage_checks
from loadkit.scenario.model import Scenario, default_scenario_path
from loadkit.units import parse_duration

__all__ = ["RunPlan", "make_plan"]


@dataclass(frozen=True)
class RunPlan:
    """A validated run: what `loadkit run` will do, decided before anything starts."""

    scenario: Scenario
    target: str  # "builtin" or a URL
    out_dir: Path
    baseline: Path | None
    planned_s: float | None  # None: unknown (web UI) or unbounded
    users: int | None = None
    spawn_rate: float | None = None
    duration_s: float | None = None
    web: bool = False
    web_port: int = 8089
    workers: int = 0
    proxy: bool = False  # start the fault proxy in front of the built-in target
    verbose: bool = False  # Locust's periodic tables and INFO logs (library logs included)


def _flag_error(flag: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(problem, field=flag, fix=fix)


def make_plan(args: argparse.Namespace) -> RunPlan:
    """Validate the scenario and flags; raises ConfigError (exit 2) before anything starts."""
    path = Path(args.scenario) if args.scenario else default_scenario_path()
    if args.scenario is None and not path.exists():
        raise ScenarioError(
            "no scenario given and the default is missing",
            source=str(path),
            fix="give a scenario file: loadkit run scenarios/NAME.yaml",
        )
    scenario = load_scenario(args.scenario or path)
    load = scenario.plan  # stages or shape, expanded in this process (no Locust imported)
    planned: float | None = load.total_duration_s
    peak, first_rate = load.peak_users, load.first_spawn_rate
    if args.users is not None and args.users < 1:
        raise _flag_error(
            "--users", f"{args.users} is not >= 1", "give a number of users, e.g. --users 10"
        )
    if args.spawn_rate is not None and args.spawn_rate <= 0:
        raise _flag_error("--spawn-rate", f"{args.spawn_rate:g} is not > 0", "e.g. --spawn-rate 5")
    if not 0 <= args.workers <= 64:
        raise _flag_error("--workers", f"{args.workers} is out of range", "use 0 to 64 workers")
    if not 0 < args.web_port < 65536:
        raise _flag_error("--web-port", f"{args.web_port} is not a port", "use 1..65535")
    duration = parse_duration(args.duration, field="--duration") if args.duration else None
    if duration is not None and duration <= 0:
        raise _flag_error("--duration", "must be longer than 0s", "e.g. --duration 30s")
    users = spawn_rate = None
    if args.users is not None or args.spawn_rate is not None or duration is not None:
        users = args.users or peak or 1
        spawn_rate = args.spawn_rate or first_rate or float(users)
        duration = duration or planned
        planned = duration
        refuse_stage_checks(scenario, "--users/--spawn-rate/--duration")
    target = scenario.target
    if args.target is not None:
        target = _check_target(args.target)
    baseline = args.baseline or scenario.baseline
    baseline_path = None
    if baseline:
        baseline_path = _baseline_path(baseline, scenario, required=bool(args.baseline))
    _check_faults(scenario, None if args.web else planned, builtin=target == "builtin")
    return RunPlan(
        scenario=scenario,
        target=target,
        out_dir=Path(args.out).resolve(),
        baseline=baseline_path,
        planned_s=None if args.web else planned,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration,
        web=args.web,
        web_port=args.web_port,
        workers=args.workers,
        proxy=needs_proxy(scenario.faults),
        verbose=bool(getattr(args, "verbose", False)),
    )


def _check_faults(scenario: Scenario, planned_s: float | None, *, builtin: bool) -> None:
    """Faults that cannot happen in this run (never fire, no such process): exit 2 now."""
    if not scenario.faults:
        return
    from loadkit.faults.preflight import check_plan

    check_plan(scenario.faults, planned_s=planned_s, builtin=builtin)


def _check_target(raw: str) -> str:
    from urllib.parse import urlsplit

    if raw == "builtin":
        return raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _flag_error(
            "--target",
            f"{raw!r} is not 'builtin' or an http(s) URL",
            "e.g. --target http://127.0.0.1:8080",
        )
    return raw.rstrip("/")


def _baseline_path(raw: str, scenario: Scenario, *, required: bool) -> Path:
    """Resolve a baseline as the reporter does (a name is reports/baselines/NAME.json).

    An existing file is checked now (exit 2 before anything starts when it is
    not a baseline); a missing one is an error when asked for with --baseline,
    and only a note when the scenario names it (the first run has none yet).
    """
    from loadkit.report.baseline import load_baseline, resolve_baseline

    path = resolve_baseline(raw, Path("reports/baselines")).expanduser()
    for base in (Path.cwd(), scenario.source.parent):
        if not path.is_absolute() and (base / path).exists():
            path = base / path
            break
    path = path.resolve()
    if path.exists() or required:
        load_baseline(path)
    return path
