"""Shipped with the package: the default scenario and the example locustfiles.

``loadkit run`` with no scenario runs ``scenarios/quickstart.yaml`` from here
when the current folder has none; the repo's ``locustfiles/`` and
``scenarios/quickstart.yaml`` are links to these files.
"""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
