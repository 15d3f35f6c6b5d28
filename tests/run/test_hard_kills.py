"""kill -9 of `loadkit run` or of its Locust master while a fault is active.

Five tries per fault kind (app, proxy, pause, kill), the victim taking turns
(`loadkit run`, the master, both at once);
5 s after each kill, with no manual step, no fault may act on the world and
no process of the run may be left (for a killed master: once `loadkit run`
has written its report and ended). The trials are bench/hard_kills.py's.

The four kinds go side by side, one trial per kind at a time (a world has one
target, proxy and sleeper), as ``bench/hard_kills.py --parallel 4`` does:
measured 2026-12-01 at load 2-3.5, all clean after at most 1.57 s (median
0.53 s), under a core of two; one after the other at load 8-10, at most 2.76 s.
Each test reads its own trial.
"""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


Key = tuple[str, str, int]  # kind, victim, attempt
TRIES: list[Key] = [
    (kind, hard_kills.VICTIMS[(i + k) % 3], i)
    for k, kind in enumerate(hard_kills.KINDS)
    for i in range(5)
]


@pytest.fixture(scope="module")
def trials(world: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[Key, tuple[Any, Path]]:
    """Every trial of TRIES by its parameters: (result, its folder)."""
    tmp = tmp_path_factory.mktemp("hard-kill-trials")

    def of_kind(kind: str) -> dict[Key, tuple[Any, Path]]:
        done = {}
        for key in [key for key in TRIES if key[0] == kind]:
            folder = tmp / "-".join(map(str, key))
            done[key] = (hard_kills.trial(kind, key[1], world, folder), folder)
        return done

    with ThreadPoolExecutor(max_workers=len(hard_kills.KINDS)) as pool:
        return {key: v for done in pool.map(of_kind, hard_kills.KINDS) for key, v in done.items()}


@pytest.mark.parametrize(("kind", "victim", "attempt"), TRIES)
def test_nothing_is_left_5s_after_a_hard_kill(
    trials: dict[Key, tuple[Any, Path]], kind: str, victim: str, attempt: int
) -> None:
    result, folder = trials[(kind, victim, attempt)]
    explain = f"{result}\n" + (folder / "run.log").read_text(errors="replace")[-3000:]
    assert result.faults_left == 0, explain
    assert result.processes_left == 0, explain
    assert result.clean_after_s is not None and result.clean_after_s <= 5.0, explain
    assert result.dirs_left == 0, explain
