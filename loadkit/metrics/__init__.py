"""The metrics pipeline: what a run records into its run directory (docs/run-dir.md).

``plugin`` (the Locust seam) and ``settings``; ``intervals`` (per-endpoint HDR
histograms per interval, shipped from workers and merged on the master),
``hlog`` (the standard interval-log format and its tags), ``recorder`` /
``rundir`` (run.json, the folder), ``events`` / ``timeline`` (events.jsonl:
stages, users, workers), ``resources`` (resources.csv from processes and
containers).
"""
