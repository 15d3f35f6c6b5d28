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

Each part exposes ``add_arguments(parser)`` and ``attach(context)``: the one
:class:`~loadkit.plugin.context.PluginContext` of this process (parsed options,
recorder, scenario, fault schedule, interrupted flag), built here and found
from an ``Environment`` with :func:`~loadkit.plugin.context.context_of`. Bad
input ends the process through :func:`~loadkit.plugin.badinput.exit_bad_input`.
"""

from __future__ import annotations

import gc
from typing import Any

from locust import events
from locust.env import Environment

from loadkit.audit import plugin as _audit
from loadkit.faults import plugin as _faults
from loadkit.metrics import plugin as _metrics
from loadkit.plugin import gate as _gate
from loadkit.plugin.context import plugin_context
from loadkit.probes import plugin as _probes
from loadkit.scenario import plugin as _scenario

__all__: list[str] = []


def _add_arguments(parser: Any) -> None:
    _gate.add_arguments(parser)
    _metrics.add_arguments(parser)
    _scenario.add_arguments(parser)
    _faults.add_arguments(parser)


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    _gate.wait_for_gate(environment.parsed_options)  # loadkit run: until its target is up
    context = plugin_context(environment)
    _metrics.attach(context)
    _scenario.attach(context)
    _faults.attach(context)
    _probes.attach(context)
    _audit.attach(context)


def _on_quit(**_kwargs: Any) -> None:
    """Locust is about to exit: leave its objects to the exit, not to a last full GC pass
    over every object of gevent, Locust and the users (0.3-0.6 s on a busy machine)."""
    gc.freeze()


events.init_command_line_parser.add_listener(_add_arguments)
events.init.add_listener(_on_init)
events.quit.add_listener(_on_quit)
