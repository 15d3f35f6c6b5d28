"""Fault injection mid-run: declare, validate, schedule, inject, always revert.

``model`` / ``fields`` (the fault grammar and its validation), ``schedule``
(on the master, aligned to the test start), ``backends/`` (the small Protocol
every backend implements, and the proxy, process, docker and http backends);
``journal`` (active faults on disk, for ``loadkit faults recover``),
``plugin`` (the Locust seam), ``webui`` (the Faults tab), ``cli``. The fault
proxy server itself is ``loadkit.proxy``.
"""
