"""``run.json`` read and checked: what the reporter may trust, and what it warns about.

A run directory without a readable ``run.json`` cannot be judged (its checks live
there): that is bad input, one line, exit 2. So is a ``checks`` or ``baseline``
field of the wrong type (a missing one is a warning: ``run_start`` keeps a copy),
or a ``schema`` this loadkit does not read. Any other field that is missing, of
the wrong type or out of range is left out with a warning (the reporter then falls
back on the latency log's own clock).

Bounds (every number a file can carry is checked before anything is sized by it):
``started_at`` is epoch seconds between 2001 and 2286, a run lasts at most
:data:`MAX_RUN_S`, an interval is :data:`MIN_INTERVAL_S` to :data:`MAX_INTERVAL_S`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loadkit.errors import RunDirError
from loadkit.rundir.layout import RUN_JSON, RUN_SCHEMA

__all__ = [
    "EPOCH_RANGE",
    "MAX_INTERVAL_S",
    "MAX_RUN_S",
    "MIN_INTERVAL_S",
    "RunMeta",
    "finite_number",
    "read_run_json",
]

MAX_RUN_S: Final = 31 * 86_400.0  # a month: longer is a damaged clock, not a soak
MIN_INTERVAL_S: Final = 0.1  # as --loadkit-interval
MAX_INTERVAL_S: Final = 3600.0
EPOCH_RANGE: Final = (1e9, 1e10)  # 2001 .. 2286
EXIT_STATUSES: Final = (None, "ok", "failed", "interrupted")
TEXT_FIELDS: Final = ("run_id", "name", "host", "scenario_file", "locustfile", "git_commit")
_FIX: Final = "rebuild it from a copy, or report a run directory written by loadkit"


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass
class RunMeta:
    """The checked content of ``run.json``; ``document`` keeps the text fields for display."""

    document: dict[str, Any]
    checks: list[str]
    baseline: str | None
    started_at: float | None = None
    stopped_at: float | None = None
    interval_s: float | None = None
    exit_status: str | None = None
    totals: tuple[int, int] | None = None  # (requests, failures) Locust counted
    warnings: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.exit_status is not None


def _bad(file: Path, problem: str, field_name: str | None = None) -> RunDirError:
    return RunDirError(problem, source=str(file), field=field_name, fix=_FIX)


def _load(file: Path) -> dict[str, Any]:
    if not file.is_file():
        raise RunDirError(
            "is missing",
            source=str(file),
            fix="pass a complete run directory (run.json holds the run's checks)",
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(file, f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise _bad(file, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad(file, f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise _bad(file, "is not valid JSON (nested too deep)") from None
    if not isinstance(data, dict):
        raise _bad(file, "is not a JSON object")
    return data


def read_run_json(run_dir: Path) -> RunMeta:
    """Read and check ``run_dir/run.json``; raises :class:`RunDirError` when it cannot be used."""
    file = run_dir / RUN_JSON
    data = _load(file)
    schema = data.get("schema", RUN_SCHEMA)
    if schema != RUN_SCHEMA or isinstance(schema, bool):
        raise RunDirError(
            f"schema {schema!r} is not supported (this loadkit reads schema {RUN_SCHEMA})",
            source=str(file),
            field="schema",
            fix="report it with the loadkit version that wrote it",
        )
    checks = data.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
        raise _bad(file, f"must be a list of check expressions, not {checks!r:.40}", "checks")
    baseline = data.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise _bad(file, f"must be a baseline name or path, not {baseline!r:.40}", "baseline")
    meta = RunMeta(dict(data), list(checks), baseline)
    if "checks" not in data:
        meta.warnings.append("run.json has no checks field: only those recorded at the start")
    _check_fields(meta)
    return meta


def _check_fields(meta: RunMeta) -> None:
    """Keep the fields that make sense; warn about the others."""
    data, warn = meta.document, meta.warnings
    for key in TEXT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            warn.append(f"run.json: {key} is not text; left out")
            data[key] = None
    started = finite_number(data.get("started_at"))
    if started is not None and EPOCH_RANGE[0] <= started <= EPOCH_RANGE[1]:
        meta.started_at = started
    elif data.get("started_at") is not None:
        warn.append(f"run.json: started_at {data['started_at']!r:.40} is not a time; left out")
    stopped = finite_number(data.get("stopped_at"))
    if stopped is not None and (
        meta.started_at is None or 0 <= stopped - meta.started_at <= MAX_RUN_S
    ):
        meta.stopped_at = stopped
    elif data.get("stopped_at") is not None:
        warn.append(f"run.json: stopped_at {data['stopped_at']!r:.40} is not in the run; left out")
    interval = finite_number(data.get("interval_s"))
    if interval is not None and MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        meta.interval_s = interval
    elif data.get("interval_s") is not None:
        warn.append(
            f"run.json: interval_s {data['interval_s']!r:.40} is not {MIN_INTERVAL_S:g} to "
            f"{MAX_INTERVAL_S:g} seconds; the latency log's own interval is used"
        )
    status = data.get("exit_status")
    if status in EXIT_STATUSES:
        meta.exit_status = status
    else:
        warn.append(f"run.json: exit_status {status!r:.40} is unknown; left out")
        data["exit_status"] = None
    totals = data.get("totals")
    if isinstance(totals, dict):
        requests, failures = totals.get("requests"), totals.get("failures")
        counts = (finite_number(requests), finite_number(failures))
        if all(c is not None and c >= 0 and c == int(c) for c in counts):
            meta.totals = (int(requests), int(failures))  # type: ignore[arg-type]
        else:
            warn.append("run.json: totals are not counts; not cross-checked")
    for key in ("started_at", "stopped_at", "interval_s"):
        data[key] = getattr(meta, key)
