"""kill -9 of `loadkit run` or of its Locust master while a fault is active.

Five tries per fault kind (app, proxy, pause, kill), the victim taking turns
(`loadkit run`, the master, both at once);
5 s after each kill, with no manual step, no fault may act on the world and
no process of the run may be left (for a killed master: once `loadkit run`
has written its report and ended). The trials are bench/hard_kills.py's.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]


def _bench():
    spec = importlib.util.spec_from_file_location("hard_kills", ROOT / "bench" / "hard_kills.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hard_kills"] = module
    spec.loader.exec_module(module)
    return module


hard_kills = _bench()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with hard_kills.world(tmp_path_factory.mktemp("hard-kill-world")) as the_world:
        yield the_world


TRIES = [
    (kind, hard_kills.VICTIMS[(i + k) % 3], i)
    for k, kind in enumerate(hard_kills.KINDS)
    for i in range(5)
]


@pytest.mark.parametrize(("kind", "victim", "attempt"), TRIES)
def test_nothing_is_left_5s_after_a_hard_kill(world, tmp_path, kind, victim, attempt):
    result = hard_kills.trial(kind, victim, world, tmp_path)
    explain = f"{result}\n" + (tmp_path / "run.log").read_text(errors="replace")[-3000:]
    assert result.faults_left == 0, explain
    assert result.processes_left == 0, explain
    assert result.clean_after_s is not None and result.clean_after_s <= 5.0, explain
    assert result.dirs_left == 0, explain
