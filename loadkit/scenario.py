"""Load and validate scenario files (stub until the scenario part lands)."""

from __future__ import annotations

from typing import Any


def add_arguments(parser: Any) -> None:
    """Add --loadkit-scenario to Locust's parser."""


def attach(environment: Any, recorder: Any = None) -> None:
    """Install the scenario's shape on the Environment."""
