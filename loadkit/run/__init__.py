"""``loadkit run``: plan a scenario, start its children, follow the run, report.

``command`` (the sub-command), ``locust`` (the Locust master and workers as
child processes), ``proxy`` (the fault proxy when a fault goes through it),
``progress`` (the console line while the run goes).
"""
