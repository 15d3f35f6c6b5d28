"""``loadkit compare`` prints what changed, not every row within tolerance.

It printed every row, ``ok`` ones too (about 100 lines for a real scenario), so the
regressions were hard to find. Now: regressions, improvements, missing and new
endpoints, then one line counting the rows within tolerance; ``--all`` lists every
row. Exit codes are unchanged (0 nothing regressed, 1 a regression). The real
``python -m loadkit`` on run directories written by loadkit's run-dir writer.
"""

from __future__ import annotations

import re

from loadkit.rundir.synthetic import LatencyStep

SLOW = "GET /status/[id]"
ROW = re.compile(r"^  (regression|improvement|ok|missing|new) +(\S.*)$")
COUNT = re.compile(r"^  (\d+) of (\d+) rows within tolerance \(--all lists them\)$")


def _rows(stdout: str) -> list[tuple[str, str]]:
    return [m.groups() for m in map(ROW.match, stdout.splitlines()) if m]  # type: ignore[misc]


def _count(stdout: str) -> tuple[int, int]:
    (match,) = [m for m in map(COUNT.match, stdout.splitlines()) if m]
    return int(match[1]), int(match[2])


def test_compare_prints_the_changes_and_counts_the_rest(make_run, tmp_path, real_cli) -> None:
    clean = make_run("clean", duration_s=30, rate=300, seed=1)
    slow = make_run("slow", duration_s=30, rate=300, seed=2, steps=[LatencyStep(0.0, 1.6, SLOW)])
    faster = make_run(
        "faster",
        duration_s=30,
        rate=400,  # four endpoints at the same rate each as the three of the others
        seed=3,
        steps=[LatencyStep(0.0, 0.5, "POST /execute")],
        endpoints=["POST /execute", SLOW, "GET /responses/[id]", "GET /new"],
    )
    every = real_cli("compare", str(clean), str(slow), "--all", "--out", str(tmp_path / "a.html"))
    assert every.returncode == 1, every.stdout + every.stderr
    all_rows = _rows(every.stdout)
    oks = [row for row in all_rows if row[0] == "ok"]
    assert len(oks) >= 10 and not COUNT.search(every.stdout)  # --all: every row, as before

    short = real_cli("compare", str(clean), str(slow), "--out", str(tmp_path / "s.html"))
    assert short.returncode == 1, short.stdout + short.stderr  # exit code unchanged
    rows = _rows(short.stdout)
    assert rows and all(status == "regression" for status, _ in rows), short.stdout
    assert any(text.startswith(f"{SLOW} p95: ") for _, text in rows), short.stdout
    assert sorted(rows) == sorted(row for row in all_rows if row[0] != "ok")
    assert _count(short.stdout) == (len(oks), len(all_rows))
    gated = [text for _, text in rows if not text.startswith("ALL ")]  # ALL is not gated
    assert f"\n{len(gated)} regression(s)\n" in short.stdout

    mixed = real_cli("compare", str(slow), str(faster), "--out", str(tmp_path / "m.html"))
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr  # improvements and new: no gate
    statuses = [status for status, _ in _rows(mixed.stdout)]
    assert "ok" not in statuses and {"improvement", "new"} <= set(statuses), mixed.stdout
    assert statuses == sorted(statuses, key=["regression", "improvement", "missing", "new"].index)
    assert ("new", "GET /new") in _rows(mixed.stdout)
    within, total = _count(mixed.stdout)
    assert within + len(statuses) == total and within > 0
    assert "0 regression(s)" in mixed.stdout

    same = real_cli("compare", str(clean), str(clean), "--out", str(tmp_path / "c.html"))
    assert same.returncode == 0 and _rows(same.stdout) == [], same.stdout
    within, total = _count(same.stdout)
    assert within == total > 0
