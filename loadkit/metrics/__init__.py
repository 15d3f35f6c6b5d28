"""The metrics pipeline: what a run records into its run directory (docs/run-dir.md).

``plugin`` (the Locust seam) and ``settings``; ``intervals`` (per-endpoint HDR
histograms per interval, shipped from workers and merged on the master),
``recorder`` (run.json and the files of the run directory, through
``loadkit.rundir``), ``timeline`` (events.jsonl: stages, users, workers),
``resources`` (resources.csv from processes and containers).
The live view (docs/live-metrics.md): ``live`` (per-endpoint figures fed by every
interval written), ``prometheus`` (``/metrics``), ``live_webui`` (the web UI's
loadkit tab and page), ``live_plugin`` (``--loadkit-metrics-port`` and the wiring).
"""
