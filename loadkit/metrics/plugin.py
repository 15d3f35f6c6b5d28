"""Locust plugin seam for metrics (stub until the metrics part lands)."""

from __future__ import annotations

from typing import Any


def add_arguments(parser: Any) -> None:
    """Add this part's --loadkit-* arguments to Locust's parser."""


def attach(environment: Any, recorder: Any = None) -> Any:
    """Attach this part to a Locust Environment."""
    return None
