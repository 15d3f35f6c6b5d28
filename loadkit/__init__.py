"""loadkit: Locust-based load and soak testing for job, session and live-sync services."""

from __future__ import annotations

from loadkit.errors import (
    BaselineError,
    CheckError,
    ChecksFailed,
    ConfigError,
    FaultError,
    FaultPlanError,
    LoadkitError,
    RunDirError,
    ScenarioError,
    TargetError,
)

__version__ = "0.1.0"

__all__ = [
    "BaselineError",
    "CheckError",
    "ChecksFailed",
    "ConfigError",
    "FaultError",
    "FaultPlanError",
    "LoadkitError",
    "RunDirError",
    "ScenarioError",
    "TargetError",
    "__version__",
]
