"""Fault injection mid-run: declare, validate, schedule, inject, always revert.

``model`` / ``fields`` (the fault grammar and its validation), ``schedule``
(on the master, aligned to the test start), ``backend`` (the small Protocol
every backend implements) with ``proxy_backend``, ``process``, ``docker`` and
``http``; ``journal`` (active faults on disk, for ``loadkit faults recover``),
``plugin`` (the Locust seam), ``webui`` (the Faults tab), ``cli``; ``proxy/``
is ``loadkit proxy``, the Toxiproxy-compatible TCP fault proxy and its client.
"""
