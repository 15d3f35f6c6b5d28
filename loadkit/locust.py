"""The Locust plugin: ``import loadkit.locust`` in a locustfile wires loadkit in.

It adds loadkit's custom arguments to Locust's parser (so they show in the web
UI and reach workers) and, once Locust has built its ``Environment``, attaches
the parts in order:

1. metrics (``loadkit.metrics.plugin``): run directory, interval HDR
   histograms, events, resource sampling. Returns the run recorder on the
   master / local runner, ``None`` on workers.
2. scenario (``loadkit.scenario.plugin``): the load shape and user mix of a
   ``--loadkit-scenario`` file, if one is given.
3. faults (``loadkit.faults.plugin``): the fault schedule, its revert
   guarantees and the web UI "Faults" tab.
4. probes (``loadkit.probes.plugin``): the scenario's probes, sampled on the
   master for the whole run.
5. audit (``loadkit.audit.plugin``): where users record the work the service
   accepted (``loadkit.audit.accepted``); workers forward it to the master.

Each part exposes ``add_arguments(parser)`` and ``attach(environment, recorder)``.
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment

from loadkit.audit import plugin as _audit
from loadkit.faults import plugin as _faults
from loadkit.metrics import plugin as _metrics
from loadkit.probes import plugin as _probes
from loadkit.scenario import plugin as _scenario

__all__: list[str] = []


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    _metrics.add_arguments(parser)
    _scenario.add_arguments(parser)
    _faults.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    recorder = _metrics.attach(environment)
    _scenario.attach(environment, recorder)
    _faults.attach(environment, recorder)
    _probes.attach(environment, recorder)
    _audit.attach(environment, recorder)
