"""Scenario files: one YAML file per named run.

``model`` (the typed scenario; the grammar is described at its top), ``load``
(reading a file into it: YAML → validated model, ``file:line`` errors),
``yamldoc`` (YAML nodes with line numbers and field paths) and ``plugin`` (the
Locust side: the load shape and user mix of ``--loadkit-scenario``).
"""
