"""``loadkit run``: plan a scenario, start its children, follow the run, report.

``plan`` (the scenario and flags, validated before anything starts),
``command`` (the sub-command), ``locust`` (the Locust master and workers as
child processes), ``proxy`` (the fault proxy when a fault goes through it),
``progress`` and ``status`` (the quiet console while the run goes).
"""
