"""``failures.json``: the distinct failure messages of a run, as Locust aggregated them.

At the end of a run (the master has merged its workers' errors by then) the
pipeline writes ``environment.stats.errors`` — request type, name, error text,
occurrences — to the run directory. Every name and message goes through
:func:`~loadkit.safety.redact.redact_text` *before* it is cut short (a cut could
split a secret so the redaction no longer sees it); messages that become equal
once redacted are merged. At most :data:`MAX_FAILURES` distinct rows are kept,
the most frequent first; ``omitted`` / ``omitted_count`` say what was left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from locust.stats import StatsError

from loadkit.rundir.layout import FAILURES_JSON, write_json_atomic
from loadkit.safety.redact import redact_text

__all__ = [
    "FAILURES_SCHEMA",
    "MAX_FAILURES",
    "MAX_MESSAGE_CHARS",
    "failures_document",
    "write_failures",
]

FAILURES_SCHEMA: Final = 1
MAX_FAILURES: Final = 50
MAX_MESSAGE_CHARS: Final = 500
MAX_NAME_CHARS: Final = 200


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failures_document(
    errors: Iterable[StatsError], limit: int = MAX_FAILURES, max_chars: int = MAX_MESSAGE_CHARS
) -> dict[str, Any]:
    """The content of ``failures.json`` for Locust's ``stats.errors.values()``."""
    merged: dict[tuple[str, str, str], int] = {}
    for error in errors:
        key = (
            str(error.method or ""),
            _cut(redact_text(str(error.name)), MAX_NAME_CHARS),
            _cut(redact_text(StatsError.parse_error(error.error)), max_chars),
        )
        merged[key] = merged.get(key, 0) + int(error.occurrences)
    ranked = sorted(merged.items(), key=lambda item: (-item[1], item[0]))
    kept, left = ranked[:limit], ranked[limit:]
    return {
        "schema": FAILURES_SCHEMA,
        "total": sum(merged.values()),
        "distinct": len(ranked),
        "omitted": len(left),
        "omitted_count": sum(count for _, count in left),
        "failures": [
            {"type": kind, "name": name, "message": message, "count": count}
            for (kind, name, message), count in kept
        ],
    }


def write_failures(run_dir: Path, errors: Iterable[StatsError]) -> Path:
    """Write (or rewrite, atomically) ``run_dir/failures.json``."""
    path = run_dir / FAILURES_JSON
    write_json_atomic(path, failures_document(errors))
    return path
