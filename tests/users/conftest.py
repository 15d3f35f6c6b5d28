"""Fixtures for the locustfile tests (helpers live in locust_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from locust_support import LocustRunner


@pytest.fixture
def locust(tmp_path: Path) -> Iterator[LocustRunner]:
    runner = LocustRunner(tmp_path)
    try:
        yield runner
    finally:
        runner.close()
