"""Baselines: save a run's per-endpoint statistics, and compare a run against one.

A baseline file (``reports/baselines/NAME.json``) holds the whole-run
statistics of each endpoint. A comparison flags a *regression* when a metric
is worse than the baseline by more than its tolerance **and** by more than a
small absolute floor (so that 1 ms of noise on a 5 ms endpoint is not a
regression), and an *improvement* for the same margin the other way.
Latencies and rate have relative tolerances, error rate an absolute one.
Only endpoints are gated; the overall row is shown for information.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadkit.errors import BaselineError, ConfigError
from loadkit.report.analysis import OVERALL, Analysis

__all__ = [
    "DEFAULT_TOLERANCES",
    "BaselineDiff",
    "Tolerance",
    "compare_to_baseline",
    "load_baseline",
    "parse_tolerances",
    "resolve_baseline",
    "save_baseline",
    "snapshot",
]

BASELINE_KIND = "loadkit-baseline"
BASELINE_SCHEMA = 1
METRICS = ["count", "error_rate", "rate", "p50", "p90", "p95", "p99", "p99_9", "max"]


@dataclass(frozen=True)
class Tolerance:
    metric: str
    allowed: float  # relative (0.15 = 15 %) for latencies and rate; absolute for error_rate
    floor: float  # absolute change (ms, /s or fraction) below which nothing is flagged
    higher_is_worse: bool = True

    @property
    def relative(self) -> bool:
        return self.metric != "error_rate"


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "p95": Tolerance("p95", 0.15, 2.0),
    "p99": Tolerance("p99", 0.20, 5.0),
    "error_rate": Tolerance("error_rate", 0.01, 0.0),
    "rate": Tolerance("rate", 0.10, 1.0, higher_is_worse=False),
}
_FLOORS = {
    "p50": 2.0,
    "p90": 2.0,
    "p95": 2.0,
    "p99": 5.0,
    "p99_9": 5.0,
    "max": 10.0,
    "rate": 1.0,
    "error_rate": 0.0,
}


@dataclass(frozen=True)
class BaselineDiff:
    endpoint: str
    metric: str
    baseline: float | None
    current: float | None
    change: str  # "+23.1%", "+1.20 pt"
    status: str  # regression | improvement | ok | missing | new
    gated: bool  # False for the overall row

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def parse_tolerances(specs: list[str]) -> dict[str, Tolerance]:
    """``["p95=10%", "error_rate=0.5%"]`` on top of the defaults."""
    tolerances = dict(DEFAULT_TOLERANCES)
    for spec in specs:
        metric, sep, amount = spec.partition("=")
        metric = metric.strip().replace("p99.9", "p99_9")
        if not sep or metric not in _FLOORS:
            raise ConfigError(
                f"'{spec}' is not METRIC=PERCENT",
                field="--tolerance",
                fix=f"write e.g. p95=10%; metrics: {', '.join(_FLOORS)}",
            )
        text = amount.strip().removesuffix("%")
        try:
            value = float(text) / 100.0
        except ValueError:
            raise ConfigError(
                f"'{amount}' is not a percentage",
                field=f"--tolerance {metric}",
                fix="write e.g. 10%",
            ) from None
        if value < 0 or not amount.strip().endswith("%"):
            raise ConfigError(
                f"'{amount}' is not a percentage",
                field=f"--tolerance {metric}",
                fix="write e.g. 10%",
            )
        tolerances[metric] = Tolerance(metric, value, _FLOORS[metric], metric != "rate")
    return tolerances


def snapshot(analysis: Analysis) -> dict[str, Any]:
    """The baseline content of a run: whole-run statistics per endpoint and overall."""

    def stats(endpoint: str) -> dict[str, float | None]:
        values = {m: analysis.stat("run", endpoint, m) for m in METRICS}
        return {m: (None if math.isnan(v) else v) for m, v in values.items()}

    return {
        "schema": BASELINE_SCHEMA,
        "kind": BASELINE_KIND,
        "run_id": analysis.run.meta.get("run_id", analysis.run.path.name),
        "name": analysis.run.name,
        "saved_at": time.time(),
        "endpoints": {endpoint: stats(endpoint) for endpoint in analysis.endpoints},
        "overall": stats(OVERALL),
    }


def resolve_baseline(name_or_file: str, directory: Path) -> Path:
    """A path as given when it looks like a file, else ``directory/NAME.json``."""
    given = Path(name_or_file)
    if given.suffix == ".json" or "/" in name_or_file or given.exists():
        return given
    return directory / f"{name_or_file}.json"


def save_baseline(analysis: Analysis, name: str, directory: Path) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise BaselineError(
            f"'{name}' is not a baseline name",
            field="NAME",
            fix="use letters, digits, '-', '_' (e.g. workspace-gateway)",
        )
    if not analysis.endpoints or not analysis.stat("run", OVERALL, "count") > 0:
        raise BaselineError(
            "has no requests: an empty baseline would gate nothing",
            source=str(analysis.run.path),
            fix="save a baseline from a run that measured requests",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BaselineError(
            f"cannot create it ({exc.strerror})",
            source=str(directory),
            field="--dir",
            fix="choose a writable folder",
        ) from None
    path = directory / f"{name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(snapshot(analysis), indent=2), encoding="utf-8")
    temporary.replace(path)
    return path


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline file or raise a one-line :class:`BaselineError`."""
    if not path.exists():
        raise BaselineError(
            "not found", source=str(path), fix="save one with 'loadkit baseline save RUN_DIR NAME'"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BaselineError(
            f"cannot be read ({exc.strerror})", source=str(path), fix="pass a baseline file"
        ) from None
    except UnicodeDecodeError:
        raise BaselineError(
            "is not valid JSON (encoding)", source=str(path), fix="save it again"
        ) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "nested too deep"
        raise BaselineError(
            f"is not valid JSON ({where})",
            source=str(path),
            fix="save it again with 'loadkit baseline save'",
        ) from None
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    again = "save it again with 'loadkit baseline save RUN_DIR NAME'"
    if (
        not isinstance(data, dict)
        or data.get("kind") != BASELINE_KIND
        or not isinstance(endpoints, dict)
    ):
        raise BaselineError(
            "is not a loadkit baseline (no kind/endpoints)",
            source=str(path),
            fix="save one with 'loadkit baseline save RUN_DIR NAME'",
        )
    schema = data.get("schema")
    if schema != BASELINE_SCHEMA or isinstance(schema, bool):
        raise BaselineError(
            f"schema {schema!r} is not supported (this loadkit reads schema {BASELINE_SCHEMA})",
            source=str(path),
            field="schema",
            fix=again,
        )
    if not endpoints:
        raise BaselineError(
            "is empty: its run had no requests", source=str(path), field="endpoints", fix=again
        )
    overall = data.get("overall")
    entries = [(f"endpoints['{name}']", stats) for name, stats in endpoints.items()]
    if overall is not None:
        entries.append(("overall", overall))
    for where, stats in entries:
        if not isinstance(stats, dict) or not all(_valid_number(stats.get(m)) for m in METRICS):
            raise BaselineError("has a malformed entry", source=str(path), field=where, fix=again)
    return data


def _valid_number(value: object) -> bool:
    """None (not measured) or a finite, non-negative number (never a bool)."""
    if value is None:
        return True
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _change_text(metric: str, base: float, current: float) -> str:
    if metric == "error_rate":
        return f"{(current - base) * 100:+.2f} pt"
    if base == 0:
        return "new" if current else "+0.0%"
    return f"{(current / base - 1) * 100:+.1f}%"


def _status(tolerance: Tolerance, base: float, current: float) -> str:
    delta = current - base if tolerance.higher_is_worse else base - current
    margin = tolerance.allowed * abs(base) if tolerance.relative else tolerance.allowed
    if abs(delta) <= tolerance.floor or abs(delta) <= margin:
        return "ok"
    return "regression" if delta > 0 else "improvement"


def compare_to_baseline(
    current: dict[str, Any], baseline: dict[str, Any], tolerances: dict[str, Tolerance]
) -> list[BaselineDiff]:
    """Diffs of ``current`` (a :func:`snapshot`) against ``baseline``, endpoints first."""
    diffs: list[BaselineDiff] = []
    base_endpoints, now_endpoints = baseline["endpoints"], current["endpoints"]
    names = sorted(set(base_endpoints) | set(now_endpoints))
    rows = [(name, base_endpoints.get(name), now_endpoints.get(name), True) for name in names]
    rows.append((OVERALL, baseline.get("overall"), current.get("overall"), False))
    for endpoint, base, now, gated in rows:
        if base is None or now is None:
            status = "missing" if now is None else "new"
            diffs.append(
                BaselineDiff(
                    endpoint,
                    "count",
                    (base or {}).get("count"),
                    (now or {}).get("count"),
                    "",
                    status,
                    gated,
                )
            )
            continue
        for metric, tolerance in tolerances.items():
            before, after = base.get(metric), now.get(metric)
            if before is None or after is None:
                continue
            status = _status(tolerance, float(before), float(after))
            diffs.append(
                BaselineDiff(
                    endpoint,
                    metric,
                    float(before),
                    float(after),
                    _change_text(metric, float(before), float(after)),
                    status,
                    gated,
                )
            )
    return diffs
