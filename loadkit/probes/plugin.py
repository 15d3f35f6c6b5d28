"""The probes part's Locust plugin seam: ``attach(context)`` (see loadkit.locust).

On the master (or the local runner), when the scenario has ``probes:``, a
:class:`~loadkit.probes.sampler.ProbeSampler` starts on every ``test_start``
into that test's run directory and stops on ``test_stop`` / ``quitting``. A
probe's ``call`` is one of the ``calls:`` of the scenario's ``service:`` profile
(or of ``--user-profile``).
Workers sample nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError
from loadkit.plugin.context import PluginContext
from loadkit.probes.model import ProbeSpec
from loadkit.probes.sampler import ProbeSampler
from loadkit.users.profile.calls import Call

__all__ = ["attach", "target_url"]

log = logging.getLogger(__name__)


def target_url(target_info: str | None, process: str) -> str | None:
    """The URL of ``process`` (gateway/agent) in the built-in target's ``target.json``."""
    if not target_info:
        return None
    path = Path(target_info)
    if path.is_dir():
        path = path / "target.json"
    try:
        url = json.loads(path.read_text(encoding="utf-8"))[process]["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(url) if url else None


def _profile_calls(context: PluginContext, probes: tuple[ProbeSpec, ...]) -> Mapping[str, Call]:
    """The named calls of the run's service profile, when a probe makes one."""
    if not any(probe.call for probe in probes):
        return {}
    from loadkit.users.profile.loader import BUILTIN, load_profile

    scenario = context.scenario.options.get("user-profile") if context.scenario else None
    reference = scenario or getattr(context.options, "user_profile", None) or BUILTIN
    try:
        return load_profile(str(reference)).calls
    except ConfigError as exc:  # checked when the scenario loaded: say it in every sample
        log.error("loadkit: probe calls not made: %s", exc)
        return {}


def attach(context: PluginContext) -> ProbeSampler | None:
    """Start/stop the scenario's probes with each test; returns the sampler (master/local).

    Runs after the metrics part (its recorder) and the scenario part (its probes).
    """
    environment, recorder = context.environment, context.recorder
    if environment.runner is None or context.is_worker or recorder is None:
        return None
    probes: tuple[ProbeSpec, ...] = context.scenario.probes if context.scenario else ()
    if not probes:
        return None
    options = context.options
    target_info = getattr(options, "loadkit_target_info", None)

    def base_url(probe: ProbeSpec) -> str | None:
        if probe.target is not None:
            return target_url(target_info, probe.target)
        host = environment.host or getattr(options, "host", None)
        return str(host) if host else None

    sampler = ProbeSampler(probes, base_url, _profile_calls(context, probes))

    def on_test_start(**_kwargs: Any) -> None:
        run_dir = recorder.current_run_dir  # metrics made this test's run dir already
        if run_dir is None:
            log.error("loadkit: probes not sampled: no run directory")
            return
        sampler.start(run_dir)

    def on_stop(**_kwargs: Any) -> None:
        sampler.stop()

    environment.events.test_start.add_listener(on_test_start)
    environment.events.test_stop.add_listener(on_stop)
    environment.events.quitting.add_listener(on_stop)
    return sampler
