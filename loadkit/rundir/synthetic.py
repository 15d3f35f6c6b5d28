"""Write synthetic run directories (the contract of docs/run-dir.md) for tests and benches.

A :class:`SyntheticRun` describes endpoints, duration, request rate, fault
windows (with a slow recovery after the revert), latency steps, stages and a
memory trend; :func:`write_run_dir` turns it into ``run.json``,
``latency.hlog``, ``events.jsonl`` and ``resources.csv`` in the standard
formats, so the reporter can be tested and measured without a real run.
Latencies are drawn from a log-normal distribution around each endpoint's
median; everything is seeded and deterministic.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadkit.rundir.hdr_codec import Layout, encode_counts
from loadkit.rundir.hlog import OUTCOMES, encode_tag
from loadkit.rundir.layout import (
    EVENTS_JSONL,
    LATENCY_HLOG,
    RESOURCE_COLUMNS,
    RESOURCES_CSV,
    RUN_JSON,
    RUN_SCHEMA,
    EventType,
)

__all__ = ["LatencyStep", "SyntheticFault", "SyntheticRun", "write_run_dir"]

START_TIME = 1_795_000_000.0


@dataclass(frozen=True)
class SyntheticFault:
    """A fault window: latency multiplied and errors added on some endpoints."""

    name: str
    at_s: float
    for_s: float
    kind: str = "latency"
    endpoints: tuple[str, ...] = ()  # empty = every endpoint
    latency_factor: float = 5.0
    error_rate: float = 0.0
    recover_s: float = 0.0  # after the revert, the effect fades out linearly over this time
    reverted: bool = True


@dataclass(frozen=True)
class LatencyStep:
    """From ``at_s`` on, ``endpoint`` (or every endpoint when None) is ``factor`` times slower."""

    at_s: float
    factor: float
    endpoint: str | None = None


@dataclass
class SyntheticRun:
    name: str = "synthetic"
    endpoints: list[str] = field(default_factory=lambda: ["POST /execute", "GET /status"])
    duration_s: float = 60.0
    rate: float = 100.0  # requests per second over all endpoints
    median_ms: dict[str, float] = field(default_factory=dict)  # default 20 ms
    error_rate: float = 0.0
    faults: list[SyntheticFault] = field(default_factory=list)
    steps: list[LatencyStep] = field(default_factory=list)
    stages: list[tuple[float, int, str | None]] = field(
        default_factory=list
    )  # start_s, users, name
    memory_mb_per_hour: float = 0.0
    checks: list[str] = field(default_factory=list)
    interval_s: float = 1.0
    torn: bool = False  # leave a torn last line everywhere and no stop (a killed run)
    seed: int = 1


def _effect(run: SyntheticRun, endpoint: str, t: float) -> tuple[float, float]:
    """(latency factor, extra error rate) for ``endpoint`` at ``t`` seconds."""
    factor, errors = 1.0, 0.0
    for step in run.steps:
        if t >= step.at_s and step.endpoint in (None, endpoint):
            factor *= step.factor
    for fault in run.faults:
        if fault.endpoints and endpoint not in fault.endpoints:
            continue
        end = fault.at_s + fault.for_s if fault.reverted else math.inf
        if fault.at_s <= t < end:
            weight = 1.0
        elif fault.recover_s > 0 and end <= t < end + fault.recover_s:
            weight = 1.0 - (t - end) / fault.recover_s
        else:
            continue
        factor *= 1.0 + (fault.latency_factor - 1.0) * weight
        errors += fault.error_rate * weight
    return factor, errors


def _paused(run: SyntheticRun, endpoint: str, t: float) -> bool:
    """A ``pause`` fault answers nothing while it lasts (the process is stopped)."""
    return any(
        fault.kind == "pause"
        and fault.at_s <= t < fault.at_s + fault.for_s
        and (not fault.endpoints or endpoint in fault.endpoints)
        for fault in run.faults
    )


def _write_latency(run: SyntheticRun, path: Path, rng: np.random.Generator) -> None:
    layout = Layout()
    n_intervals = math.ceil(run.duration_s / run.interval_s)
    per_endpoint = run.rate * run.interval_s / max(len(run.endpoints), 1)
    with path.open("w", encoding="utf-8") as out:
        out.write("#[Histogram log format version 1.2]\n")
        out.write(f"#[StartTime: {START_TIME:.3f} (seconds since epoch)]\n")
        out.write(
            '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n'
        )
        for interval in range(n_intervals):
            t = interval * run.interval_s
            for endpoint in run.endpoints:
                n = int(rng.poisson(per_endpoint))
                if n == 0 or _paused(run, endpoint, t):
                    continue
                factor, extra_errors = _effect(run, endpoint, t)
                median_us = run.median_ms.get(endpoint, 20.0) * 1000.0 * factor
                values = rng.lognormal(math.log(median_us), 0.35, n)
                failed = rng.random(n) < min(run.error_rate + extra_errors, 1.0)
                for outcome in OUTCOMES:
                    chosen = values[failed] if outcome == "fail" else values[~failed]
                    if len(chosen) == 0:
                        continue
                    index, counts = np.unique(layout.index_of(chosen), return_counts=True)
                    encoded = encode_counts(layout, index, counts.astype(np.int64))
                    tag = encode_tag(outcome, endpoint)
                    out.write(f"Tag={tag},{t:.3f},{run.interval_s:.3f},{chosen.max() / 1000:.3f},")
                    out.write(encoded + "\n")
        if run.torn:
            out.write(f"Tag={encode_tag('ok', run.endpoints[0])},{n_intervals:.3f},1.000,5.0,HIST")


def _events(run: SyntheticRun) -> list[dict[str, object]]:
    events: list[dict[str, object]] = [
        {
            "t": START_TIME,
            "type": EventType.RUN_START,
            "run_id": run.name,
            "host": "http://127.0.0.1:1",
        }
    ]
    for index, (start_s, users, name) in enumerate(run.stages):
        events.append(
            {
                "t": START_TIME + start_s,
                "type": EventType.STAGE,
                "index": index,
                "name": name,
                "users": users,
                "spawn_rate": users,
                "duration_s": None,
            }
        )
        events.append({"t": START_TIME + start_s + 0.5, "type": EventType.USERS, "count": users})
    for fault in run.faults:
        events.append(
            {
                "t": START_TIME + fault.at_s,
                "type": EventType.FAULT_INJECT,
                "name": fault.name,
                "kind": fault.kind,
                "target": "gateway",
                "params": {},
                "planned_at_s": fault.at_s,
                "late_ms": 0,
            }
        )
        if fault.reverted:
            events.append(
                {
                    "t": START_TIME + fault.at_s + fault.for_s,
                    "type": EventType.FAULT_REVERT,
                    "name": fault.name,
                    "kind": fault.kind,
                    "reason": "scheduled",
                    "ok": True,
                    "error": None,
                }
            )
    events.sort(key=lambda event: float(event["t"]))  # type: ignore[arg-type]
    if not run.torn:
        events.append(
            {"t": START_TIME + run.duration_s, "type": EventType.RUN_STOP, "exit_status": "ok"}
        )
    return events


def _write_resources(run: SyntheticRun, path: Path, rng: np.random.Generator) -> None:
    seconds = np.arange(0.0, run.duration_s, 1.0)
    lines = [",".join(RESOURCE_COLUMNS)]
    for source, base_mb in (("gateway", 80.0), ("agent", 40.0)):
        trend = base_mb + run.memory_mb_per_hour * seconds / 3600.0
        rss = (trend + rng.normal(0, 0.5, len(seconds))) * 1024 * 1024
        cpu = np.clip(rng.normal(30 if source == "gateway" else 10, 3, len(seconds)), 0, None)
        lines += [
            f"{START_TIME + s:.3f},{source},process,python,{c:.1f},{int(r)},12,"
            for s, c, r in zip(seconds, cpu, rss, strict=True)
        ]
    text = "\n".join(lines) + "\n"
    path.write_text(text + ("1795000000.5,gatew" if run.torn else ""), encoding="utf-8")


def write_run_dir(run: SyntheticRun, directory: Path) -> Path:
    """Write ``run`` as a run directory at ``directory`` (created); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(run.seed)
    meta = {
        "schema": RUN_SCHEMA,
        "run_id": f"synthetic-{run.name}",
        "name": run.name,
        "scenario_file": None,
        "locustfile": "synthetic",
        "host": "http://127.0.0.1:8080",
        "interval_s": run.interval_s,
        "started_at": START_TIME,
        "stopped_at": None if run.torn else START_TIME + run.duration_s,
        "exit_status": None if run.torn else "ok",
        "exit_code": None if run.torn else 0,
        "versions": {"loadkit": "0.1.0", "locust": "2.47.0", "python": "3.11"},
        "git_commit": None,
        "runner": {"mode": "local", "workers": 0},
        "totals": {"requests": 0, "failures": 0},
        "checks": run.checks,
        "baseline": None,
        "target": {"processes": {}, "containers": []},
    }
    (directory / RUN_JSON).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    _write_latency(run, directory / LATENCY_HLOG, rng)
    events = "".join(json.dumps(event) + "\n" for event in _events(run))
    if run.torn:
        events += '{"t": 1795000001.0, "type": "no'
    (directory / EVENTS_JSONL).write_text(events, encoding="utf-8")
    _write_resources(run, directory / RESOURCES_CSV, rng)
    return directory
