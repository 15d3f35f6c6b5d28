"""``delta(probe(...))``: a counter's increase in a window, judged on what the samples can tell.

The samples inside a window see the least the counter can have grown (what came between
the window's edge and the nearest sample inside is not seen); the samples just outside
it bound the most. A check passes only if it holds at both (regression: ``delta == 0``
passed on an increase that came just after the window's start, before its first sample).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadkit.rundir.synthetic import SyntheticFault

WINDOW = SyntheticFault("outage", 10, 10)  # fault:outage is s = [10, 20)


def _probed(make_run, checks: list[str], samples: list[tuple[float, int]]) -> Path:
    run_dir = make_run("probed", duration_s=30, rate=50, faults=[WINDOW], checks=checks)
    start = json.loads((run_dir / "run.json").read_text())["started_at"]
    lines = [
        json.dumps({"t": start + s, "probe": "q", "ok": True, "values": {"done": n}})
        for s, n in samples
    ]
    (run_dir / "probes.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


# the counter: 0 before the window; +3 at s=10.5, after the window began but before its
# first sample (s=12); no change seen between the samples inside
EDGE_INCREASE = [(5, 0), (9, 0), (12, 3), (15, 3), (18, 3), (21, 3), (25, 3)]


@pytest.mark.parametrize(
    ("check", "code", "shown"),
    [
        # the increase may have come before the window or in it: neither can be told
        ("delta(probe(q.done)) == 0 during fault:outage", 1, "0 to 3"),
        ("delta(probe(q.done)) < 1 during fault:outage", 1, "0 to 3"),
        ("delta(probe(q.done)) >= 1 during fault:outage", 1, "0 to 3"),
        # true at both ends: decided
        ("delta(probe(q.done)) <= 3 during fault:outage", 0, "0 to 3"),
        ("delta(probe(q.done)) >= 3", 0, "3"),  # the whole run has no edge to miss
    ],
)
def test_delta_holds_only_if_it_holds_for_every_increase_the_samples_allow(
    make_run, cli, check: str, code: int, shown: str
) -> None:
    run_dir = _probed(make_run, [check], EDGE_INCREASE)
    result = cli("report", str(run_dir))
    assert result.returncode == code, result.stdout + result.stderr
    verdict = "PASS" if code == 0 else "FAIL"
    assert f"{verdict}  {check}: {shown}" in result.stdout, result.stdout
    if code == 1 and check.endswith("outage") and "<= 3" not in check:
        assert "undetermined; sample more often" in result.stdout


def test_delta_seen_inside_the_window_is_decided_as_before(make_run, cli) -> None:
    inside = [(5, 0), (9, 0), (11, 0), (14, 2), (19, 2), (21, 2)]
    run_dir = _probed(
        make_run,
        [
            "delta(probe(q.done)) >= 1 during fault:outage",
            "delta(probe(q.done)) == 0 before faults",
        ],
        inside,
    )
    result = cli("report", str(run_dir))
    assert result.returncode == 0, result.stdout
    assert "PASS  delta(probe(q.done)) >= 1 during fault:outage: 2" in result.stdout
    # before faults: 0 -> 0 inside, and the first sample after it (s=11) is 0 too
    assert "PASS  delta(probe(q.done)) == 0 before faults: 0" in result.stdout
