"""My users: loadkit's JobUser, speaking the service that profile.yaml describes.

Run through the scenario (``loadkit run scenario.yaml``) or straight with Locust:
``locust -f locustfile.py --user-profile profile.yaml --host http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.users import JobUser


class MyJobUser(JobUser):
    """Submits jobs, waits for them, checks their output (see ``loadkit options``)."""
