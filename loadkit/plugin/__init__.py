"""What the Locust plugin's parts share: one typed context and one bad-input exit.

- ``context``: :class:`PluginContext`, built by :mod:`loadkit.locust` and passed to
  each part's ``attach`` (metrics, scenario, faults); :func:`context_of` finds it
  from a Locust ``Environment``.
- ``badinput``: :func:`exit_bad_input`, the one way bad input ends Locust at start
  (one line, children of ``--processes`` stopped, exit 2).
- ``webtab``: :func:`add_tab` and :func:`auth_guard`, the one way a part adds a
  tab to Locust's web UI and puts its pages behind Locust's login.

This folder imports only :mod:`loadkit.errors` (and Flask, in ``webtab``) at
run time, so every part may import it without an import cycle (the types of
the parts' objects are imported for type checking only).
"""
