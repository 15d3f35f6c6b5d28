"""The run-directory contract (docs/run-dir.md): what a run writes and how it is read.

``layout`` (the folder, run.json, versions), ``events`` (events.jsonl),
``hlog`` (the standard interval-log format and its tags), ``hlog_reader`` and
``reader`` (loading a run directory for the reporter), ``synthetic``
(generated run directories for tests and benches).
"""
