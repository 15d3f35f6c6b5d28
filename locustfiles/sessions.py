"""SessionBurstUser: bursts of cold-starting sessions, warm restarts, expiry.

See :mod:`loadkit.users.sessions`; options: ``loadkit options locustfiles/sessions.py``.
"""

from __future__ import annotations

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.users import SessionUser


class SessionBurstUser(SessionUser):
    """A SessionUser on the service the run's profile describes."""
