"""The run-directory contract (docs/run-dir.md): what a run writes and how it is read.

``layout`` (file names, event types, the folder, run.json), ``jsonl``
(append-only JSON-lines files), ``events``
(events.jsonl), ``hlog`` (the interval-log format, its one tag codec, writing),
``hdr_codec`` and ``hdr_batch`` (the HdrHistogram wire format), ``hlog_reader``
and ``reader`` (loading a run directory for the reporter), ``synthetic``
(generated run directories for tests and benches). Imports none of the parts
that use it (metrics, faults, report, run): only ``errors``/``units``.
"""
