"""What the Locust plugin's parts share: one typed context and one bad-input exit.

- ``context``: :class:`PluginContext`, built by :mod:`loadkit.locust` and passed to
  each part's ``attach`` (metrics, scenario, faults, probes, audit);
  :func:`context_of` finds it
  from a Locust ``Environment``.
- ``badinput``: :func:`exit_bad_input`, the one way bad input ends Locust at start
  (one line, children of ``--processes`` stopped, exit 2).
- ``webtab``: :func:`part_blueprint` and :func:`mount`, the one way a part adds
  a page, routes and a tab to Locust's web UI behind Locust's login.
- ``gate``: the start gate ``loadkit run`` opens when its target is up.

This folder imports only :mod:`loadkit.errors` and :mod:`loadkit._proc` (and
Flask, in ``webtab``) at
run time, so every part may import it without an import cycle (the types of
the parts' objects are imported for type checking only).
"""
