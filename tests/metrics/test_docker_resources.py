"""Container sampling through the real Docker engine (skipped with the reason without one)."""

from __future__ import annotations

import csv
import math
import uuid

import pytest

from loadkit.metrics.resources import ResourceSampler, docker_collectors

pytestmark = [pytest.mark.docker, pytest.mark.exclusive]

IMAGE = "loadkit-base:latest"  # any local image with `sleep` would do; never pulled here


@pytest.fixture
def container():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(IMAGE)
    except Exception as exc:
        pytest.skip(f"no Docker engine or no local {IMAGE} image: {exc}")
    name = f"loadkit-metrics-test-{uuid.uuid4().hex[:8]}"
    started = client.containers.run(
        IMAGE, ["sleep", "120"], name=name, detach=True, network_mode="none"
    )
    try:
        yield name
    finally:
        started.remove(force=True)


def test_container_rows_in_resources_csv(tmp_path, container) -> None:
    collectors = docker_collectors([container])
    assert [c.label for c in collectors] == [container]
    sampler = ResourceSampler(tmp_path / "resources.csv", collectors)
    try:
        for _ in range(3):
            assert sampler.sample_once() == 1
    finally:
        sampler.stop()
    with open(tmp_path / "resources.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3
    for position, row in enumerate(rows):
        assert row["source"] == container and row["kind"] == "container"
        cpu = float(row["cpu_percent"])  # the first sample has nothing to compare with: nan
        assert int(row["rss_bytes"]) > 0 and (math.isnan(cpu) if position == 0 else cpu >= 0)
        assert row["num_fds"] == "" and row["connections"] == ""
