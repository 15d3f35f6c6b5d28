"""Read ``failures.json`` (the run's distinct failure messages) for the report.

A missing file is normal (run directories from before it existed); a damaged
one gives a warning and no table — never an exception and never a different
verdict (the checks are computed from ``latency.hlog``, not from this file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadkit.rundir.layout import FAILURES_JSON

__all__ = ["read_failures", "top_messages"]

_COUNTS = ("total", "distinct", "omitted", "omitted_count")


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r:.40} is not a count")
    return value


def _row(index: int, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"failures[{index}] is not an object")
    for key in ("type", "name", "message"):
        if not isinstance(row.get(key), str):
            raise ValueError(f"failures[{index}].{key} is not a string")
    try:
        count = _count(row.get("count"))
    except ValueError as exc:
        raise ValueError(f"failures[{index}].count: {exc}") from None
    return {"type": row["type"], "name": row["name"], "message": row["message"], "count": count}


def _validate(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("failures"), list):
        raise ValueError("no 'failures' list")
    document: dict[str, Any] = {}
    for key in _COUNTS:
        try:
            document[key] = _count(data.get(key))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    rows = [_row(index, row) for index, row in enumerate(data["failures"])]
    document["failures"] = sorted(rows, key=lambda r: -int(r["count"]))
    return document


def read_failures(run_dir: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """``(document, warnings)``: the checked content of ``failures.json``, or None."""
    path = run_dir / FAILURES_JSON
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read the failure messages ({exc}); none shown"]
    try:
        return _validate(json.loads(text)), []
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return None, [f"{path}: damaged ({exc}); no failure messages shown"]
    except RecursionError:
        return None, [f"{path}: damaged (nested too deep); no failure messages shown"]


def top_messages(document: dict[str, Any] | None, limit: int = 3) -> list[str]:
    """``"<count>× <type> <name>: <message>"`` for the most frequent failures."""
    if not document:
        return []
    return [
        f"{row['count']}× {row['type']} {row['name']}: {row['message']}"
        for row in document["failures"][:limit]
    ]
