from __future__ import annotations

from collections.abc import Iterator

import pytest
from metrics_support import tiny_server


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    with tiny_server() as handle:
        yield handle
