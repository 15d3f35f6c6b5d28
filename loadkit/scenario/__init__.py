"""Scenario files: one YAML file per named run.

``model`` (the typed scenario and its validation), ``yamldoc`` (YAML nodes
with line numbers, field paths and did-you-mean hints), ``plugin`` (the
Locust side: the load shape and user mix of ``--loadkit-scenario``).
"""
