"""The one typed context the Locust plugin hands to each part's ``attach``.

:mod:`loadkit.locust` builds a :class:`PluginContext` at Locust's ``init``
event and passes it to metrics, scenario, faults, probes and audit, in that
order; each part reads what the earlier ones put there (the recorder, the
scenario and its fault plan) and adds its own. Code that only has a Locust ``Environment`` (an event
listener, a locustfile, a test) finds the context with :func:`context_of`;
nothing is stored as an attribute on the ``Environment``.
"""

from __future__ import annotations

import weakref
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the parts import this module: their types only for the checker
    from locust.env import Environment

    from loadkit.faults.schedule import FaultSchedule
    from loadkit.scenario.model import Scenario

__all__ = ["PluginContext", "Recorder", "context_of", "plugin_context"]


class Recorder(Protocol):
    """What the scenario and faults parts need of the metrics part's run recorder."""

    @property
    def run_dir(self) -> Path: ...

    @property
    def current_run_dir(self) -> Path | None:
        """The run dir of the current (or last) run; None before the first test start."""
        ...

    @property
    def running(self) -> bool: ...

    def event(self, type: str, **fields: Any) -> None: ...


@dataclass
class PluginContext:
    """What loadkit's parts share inside one Locust process.

    ``recorder`` is set by metrics on the master / local runner (None on
    workers); ``scenario`` by the scenario part on the master / local runner
    (its ``faults`` are the parsed fault plan the faults part schedules);
    ``schedule`` by the faults part when there is a plan; ``interrupted`` when
    SIGTERM stopped a shape run before its end.
    """

    environment: Environment
    options: Namespace
    is_worker: bool
    recorder: Recorder | None = None
    scenario: Scenario | None = None
    schedule: FaultSchedule | None = None
    interrupted: bool = False


_contexts: weakref.WeakKeyDictionary[Any, PluginContext] = weakref.WeakKeyDictionary()


def context_of(environment: Environment) -> PluginContext | None:
    """The context loadkit built for ``environment``, None when loadkit is not attached."""
    return _contexts.get(environment)


def plugin_context(environment: Environment) -> PluginContext:
    """The context of ``environment``, created on first use (at Locust's ``init``)."""
    context = _contexts.get(environment)
    if context is None:
        from locust.runners import WorkerRunner

        options = environment.parsed_options or Namespace()
        is_worker = isinstance(environment.runner, WorkerRunner)
        context = _contexts[environment] = PluginContext(environment, options, is_worker)
    return context
