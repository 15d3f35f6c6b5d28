"""WorkspaceUser: jobs in a workspace, checked end to end (see :mod:`loadkit.users.jobs`).

Options: ``loadkit options locustfiles/workspace.py`` (``--job-*``, ``--user-profile``).
"""

from __future__ import annotations

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.users import JobUser


class WorkspaceUser(JobUser):
    """A JobUser on the service the run's profile describes (the built-in target by default)."""
