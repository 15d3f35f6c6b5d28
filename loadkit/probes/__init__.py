"""Probes: sample the service's own state (health, breakers, queue depth, counters)
on the master for the whole run, into the run dir's ``probes.jsonl``.

``model`` (the ``probes:`` grammar), ``sampler`` (the greenlets and the file),
``plugin`` (the Locust seam). The report side is :mod:`loadkit.report.probes`.
"""
