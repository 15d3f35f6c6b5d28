"""A scenario's ``service:`` section: which service profile the users speak.

``service:`` is ``builtin`` (the default), a shipped profile's name, a profile
file (relative to the scenario), or an inline profile mapping. It is checked
when the scenario loads (file:line: field, exit 2) and handed to Locust as
``--user-profile REFERENCE``; the reference names a file, never a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadkit.errors import ConfigError
from loadkit.scenario.yamldoc import YamlDoc
from loadkit.users.profile.loader import BUILTIN, load_profile, read_profile

__all__ = ["PROFILE_OPTION", "service_options"]

PROFILE_OPTION = "user-profile"


def service_options(doc: YamlDoc, raw: Any, source: Path) -> dict[str, str | int | float | bool]:
    """The Locust options that make the users speak ``raw`` (``{}`` for the default)."""
    if raw is None or raw == BUILTIN:
        return {}
    if isinstance(raw, dict):
        reference = f"{source}#service"
        read_profile(doc, raw, ("service",), reference)
        return {PROFILE_OPTION: reference}
    if not isinstance(raw, str) or not raw.strip():
        fix = "write 'builtin', a profile name or file, or an inline mapping"
        raise doc.error(("service",), f"{raw!r} is not a profile", fix)
    reference = raw
    if raw.endswith((".yaml", ".yml")) or "/" in raw:
        path = Path(raw).expanduser()
        reference = str(path if path.is_absolute() else (source.parent / path).resolve())
    try:
        load_profile(reference)
    except ConfigError as exc:
        if exc.source:  # an error inside the profile file: its own file and line
            raise
        raise doc.error(("service",), exc.problem, exc.fix) from None
    return {PROFILE_OPTION: reference}
