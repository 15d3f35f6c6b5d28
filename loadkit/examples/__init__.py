"""Shipped with the package: the default scenario and the example locustfiles.

``loadkit run`` with no scenario runs ``scenarios/quickstart.yaml`` from here
when the current folder has none. In the repo, ``locustfiles`` and
``scenarios/quickstart.yaml`` here are links to the repo's own files; a wheel
holds their contents.
"""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
