"""Fault windows, stages and the phases of a run, derived from events.jsonl.

Phase names are what checks say after ``during``/``after``/``before``:

- ``run``: the whole run;
- ``before faults``: from the start to the first fault injection;
- ``fault:NAME``: from a fault's inject to its revert (or the end of the run);
- ``after fault:NAME``: from its revert to the next injection (or the end);
- ``stage:NAME``: a stage of the load shape (``NAME`` is the stage's name, or
  ``INDEX`` when it has none), until the next stage starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadkit.rundir.layout import EventType

__all__ = ["FaultWindow", "Phase", "derive_phases", "fault_windows"]


@dataclass(frozen=True)
class FaultWindow:
    name: str
    kind: str
    start_s: float
    end_s: float
    reverted: bool
    target: str = ""
    params: str = ""  # a short text of the parameters, for tables


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return max(self.end_s - self.start_s, 0.0)


def _params_text(params: Any) -> str:
    if isinstance(params, dict):  # unset parameters (None) are left out: no "url=None"
        return ", ".join(f"{key}={value}" for key, value in params.items() if value is not None)
    return "" if params is None else str(params)


def fault_windows(events: list[dict[str, Any]], end_s: float) -> list[FaultWindow]:
    """One window per injection, closed by the next revert of the same name."""
    windows: list[FaultWindow] = []
    open_faults: dict[str, dict[str, Any]] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event["type"] == EventType.FAULT_INJECT:
            open_faults[name] = event
        elif event["type"] == EventType.FAULT_REVERT and name in open_faults:
            inject = open_faults.pop(name)
            windows.append(_window(inject, float(event["s"]), reverted=True))
    windows += [_window(inject, end_s, reverted=False) for inject in open_faults.values()]
    windows.sort(key=lambda window: window.start_s)
    return windows


def _window(inject: dict[str, Any], end_s: float, *, reverted: bool) -> FaultWindow:
    return FaultWindow(
        name=str(inject.get("name", "")),
        kind=str(inject.get("kind", "")),
        start_s=float(inject["s"]),
        end_s=max(end_s, float(inject["s"])),
        reverted=reverted,
        target=str(inject.get("target") or ""),
        params=_params_text(inject.get("params")),
    )


def stage_name(event: dict[str, Any]) -> str:
    name = event.get("name")
    return str(name) if name else str(event.get("index", "?"))


def derive_phases(events: list[dict[str, Any]], end_s: float) -> list[Phase]:
    """Every phase of the run, ``run`` first; names are unique."""
    phases = [Phase("run", 0.0, end_s)]
    windows = fault_windows(events, end_s)
    if windows:
        phases.append(Phase("before faults", 0.0, windows[0].start_s))
    seen: set[str] = {"run", "before faults"}
    for position, window in enumerate(windows):
        next_start = windows[position + 1].start_s if position + 1 < len(windows) else end_s
        during = Phase(f"fault:{window.name}", window.start_s, window.end_s)
        after = Phase(f"after fault:{window.name}", window.end_s, max(next_start, window.end_s))
        for phase in (during, after) if window.reverted else (during,):
            if phase.name not in seen:  # a fault injected twice: its first window names it
                seen.add(phase.name)
                phases.append(phase)
    stages = [event for event in events if event["type"] == EventType.STAGE]
    for position, event in enumerate(stages):
        next_start = float(stages[position + 1]["s"]) if position + 1 < len(stages) else end_s
        name = f"stage:{stage_name(event)}"
        if name not in seen:
            seen.add(name)
            phases.append(Phase(name, max(float(event["s"]), 0.0), next_start))
    return phases
