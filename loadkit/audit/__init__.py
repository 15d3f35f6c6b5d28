"""The loss audit: every piece of work the service accepted, and what became of it.

``record`` (:func:`accepted`, which user classes call: ``accepted.jsonl``),
``plugin`` (the Locust seam), ``settings`` (the scenario's ``audit:``),
``audit`` (after the load: ask the service for each item's end state;
``audit.jsonl`` + ``audit.json``), ``builtin`` (how the built-in target says
it), ``cli`` (``loadkit audit RUN_DIR``). The report side is
:mod:`loadkit.report.audit`.
"""

from loadkit.audit.record import accepted

__all__ = ["accepted"]
