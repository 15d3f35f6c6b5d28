"""All three user kinds in one run, mixed by weight.

``WorkspaceUser`` (jobs) : ``SyncClientUser`` (live sync) :
``SessionBurstUser`` (sessions) = 3 : 2 : 1 by default; change the mix with
Locust's own ``--config-users`` / class picker or a scenario's ``users:``.
Every parameter of the three (``--job-*``, ``--sync-*``, ``--session-*``)
applies here too.
"""

from __future__ import annotations

from sessions import SessionBurstUser
from sync import SyncClientUser
from workspace import WorkspaceUser

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)

WorkspaceUser.weight = 3
SyncClientUser.weight = 2
SessionBurstUser.weight = 1

__all__ = ["SessionBurstUser", "SyncClientUser", "WorkspaceUser"]
