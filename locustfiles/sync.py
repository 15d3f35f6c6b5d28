"""SyncClientUser: a live-sync client on ``WS /ws``, some of them also writing.

See :mod:`loadkit.users.sync`; options: ``loadkit options locustfiles/sync.py``.
"""

from __future__ import annotations

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.users import SyncUser


class SyncClientUser(SyncUser):
    """A SyncUser on the built-in target's tasks API."""
