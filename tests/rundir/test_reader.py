"""load_run_dir: one run directory on the run's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import SyntheticRun, write_run_dir


@pytest.fixture
def make_run(tmp_path: Path):
    def make(name: str, **fields: object) -> Path:
        return write_run_dir(SyntheticRun(name=name, **fields), tmp_path / name)  # type: ignore[arg-type]

    return make


def test_latency_times_are_put_on_the_run_clock(make_run) -> None:
    import json

    run_dir = make_run("clock", duration_s=10, rate=100)
    meta = json.loads((run_dir / "run.json").read_text())
    meta["started_at"] -= 2.0  # the run started 2 s before the latency log's StartTime
    (run_dir / "run.json").write_text(json.dumps(meta))
    run = load_run_dir(run_dir)
    assert run.latency.rows["t"].min() == pytest.approx(2.0)
