"""Locust users for any job, session and sync service, and the helpers they share.

- :class:`JobUser` (:mod:`~loadkit.users.jobs`), :class:`SessionUser`
  (:mod:`~loadkit.users.sessions`), :class:`SyncUser` (:mod:`~loadkit.users.sync`):
  abstract user classes; subclass them in a locustfile.
- :class:`Expect` (:mod:`~loadkit.users.outputs`): what a job's output must be
  (exact, contains, valid JSON, length + sha256), for :meth:`JobUser.job`.
- :mod:`~loadkit.users.profile`: what they call (``builtin``, YAML profiles, adapters).
- :mod:`~loadkit.users.events` (``fire``, ``checked``, ``CheckFailed``),
  :mod:`~loadkit.users.http` (the checked call), :mod:`~loadkit.users.args`
  (custom arguments), :mod:`~loadkit.users.websocket` (the WebSocket client).

The user classes are imported on first use, so that reading a profile (as
``loadkit run`` does) does not import Locust and its gevent patching.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loadkit.users.outputs import Expect

if TYPE_CHECKING:
    from loadkit.users.jobs import JobUser
    from loadkit.users.sessions import SessionUser
    from loadkit.users.sync import SyncUser

__all__ = ["Expect", "JobUser", "SessionUser", "SyncUser"]

_HOMES = {"JobUser": "jobs", "SessionUser": "sessions", "SyncUser": "sync"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"loadkit.users.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'loadkit.users' has no attribute {name!r}")
