"""Shortened variants and twins of the shipped scenarios, derived from their files.

:func:`derive` reads ``scenarios/NAME.yaml`` and changes only *when* things
happen (stages, fault start and length, the audit's deadline) and, for a twin, adds one
``break_*`` target option; faults, probes and checks stay as the file has
them. :func:`run_scenario` runs it with ``loadkit run`` and returns the
exit code, the output and each check's verdict from ``summary.json``;
:func:`run_scenarios` runs several side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


@dataclass(frozen=True)
class Short:
    """How a scenario is shortened: new stages, and per fault name ``(at, for)`` in seconds
    (``for`` None: keep the file's)."""

    stages: list[dict[str, Any]]
    faults: Mapping[str, tuple[float, float | None]]
    options: Mapping[str, Any] | None = None  # Locust options to change (e.g. a rate)
    audit: Mapping[str, Any] | None = None  # audit: keys to change (e.g. a shorter deadline)


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str
    checks: dict[str, bool]  # expression -> passed
    run_dir: Path | None

    @property
    def failed(self) -> set[str]:
        return {expression for expression, passed in self.checks.items() if not passed}


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def derive(
    name: str,
    short: Short,
    folder: Path,
    *,
    broken: str | None = None,
    edit: Any = None,
) -> Path:
    """Write the shortened scenario (with ``broken`` switched on) to ``folder``; its path."""
    data = load(name)
    data["stages"] = short.stages
    names = {fault["name"] for fault in data.get("faults") or []}
    assert set(short.faults) == names, f"{name}: shorten every fault, exactly: {sorted(names)}"
    for fault in data.get("faults") or []:
        at, length = short.faults[fault["name"]]
        fault["at"] = f"{at:g}s"
        if length is not None:
            fault["for"] = f"{length:g}s"
            if isinstance(fault.get("json"), dict) and "for_s" in fault["json"]:
                fault["json"]["for_s"] = length
    if short.options:
        data.setdefault("options", {}).update(short.options)
    if short.audit:
        data.setdefault("audit", {}).update(short.audit)
    if broken is not None:
        assert broken.startswith("break_")
        data.setdefault("target_options", {})[broken] = True
    if edit is not None:
        edit(data)
    path = folder / f"{name}{'-' + broken if broken else ''}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_scenario(path: Path, out: Path, *extra: str, timeout: float = 600) -> Outcome:
    """Run ``loadkit run`` on ``path`` to its end (run directories under ``out/reports``)."""
    return run_scenarios([(path, out)], *extra, timeout=timeout)[0]


def run_scenarios(
    runs: Sequence[tuple[Path, Path]], *extra: str, timeout: float = 600
) -> list[Outcome]:
    """Run ``loadkit run`` on each ``(path, out)`` side by side; their outcomes, in order."""
    started = []
    for path, out in runs:
        out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LOADKIT_FAULTS_INDEX": str(out / "faults-index")}
        argv = [sys.executable, "-m", "loadkit", "run", str(path), "--out", str(out / "reports")]
        with open(out / "output.txt", "w") as log:
            proc = subprocess.Popen(
                [*argv, *extra], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env
            )
        started.append((proc, out))
    deadline = time.monotonic() + timeout
    try:
        codes = [proc.wait(max(deadline - time.monotonic(), 0)) for proc, _ in started]
    except subprocess.TimeoutExpired:
        output = "\n".join((out / "output.txt").read_text()[-3000:] for _, out in started)
        problem = f"loadkit run took more than {timeout:g}s:\n{output}"
        raise AssertionError(problem) from None
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [
        _outcome(code, (out / "output.txt").read_text(), out)
        for code, (_, out) in zip(codes, started, strict=True)
    ]


def junit_failures(run_dir: Path) -> set[str]:
    """The names of the failed test cases of ``junit.xml`` (one per check)."""
    import xml.etree.ElementTree as ET

    root = ET.parse(run_dir / "junit.xml").getroot()
    return {
        case.attrib["name"]
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    }


def _outcome(code: int, output: str, out: Path) -> Outcome:
    runs = sorted((out / "reports").glob("*")) if (out / "reports").is_dir() else []
    run_dir = runs[-1] if runs else None
    checks: dict[str, bool] = {}
    if run_dir is not None and (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
        checks = {c["expression"]: bool(c["passed"]) for c in summary["checks"]}
    return Outcome(code, output, checks, run_dir)
