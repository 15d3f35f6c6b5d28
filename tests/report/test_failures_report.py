"""The reporter and failures.json: missing is fine, damaged warns, the verdict never moves.

(The file's producer — the metrics plugin in a real Locust run — is tested in
tests/metrics/test_failures_file.py; here the file is written by hand.)
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

FAILING = ["p99 < 1ms", "error_rate < 0.001%"]  # fails the first (the second with errors)
PASSING = ["count > 0"]

GOOD = {
    "schema": 1,
    "total": 12,
    "distinct": 2,
    "omitted": 0,
    "omitted_count": 0,
    "failures": [
        {"type": "POST", "name": "/execute", "message": "ConnectionResetError(<b>)", "count": 2},
        {"type": "GET", "name": "/status/[id]", "message": "connection closed", "count": 10},
    ],
}


def _verdict(run_dir: Path) -> str:
    return str(json.loads((run_dir / "summary.json").read_text())["verdict"])


@pytest.fixture(params=[FAILING, PASSING], ids=["failing", "passing"])
def run_dir(request, make_run) -> Path:
    return make_run("run", duration_s=10, rate=50, checks=request.param)


def test_missing_file_is_fine(run_dir, cli) -> None:
    result = cli("report", str(run_dir))
    assert result.returncode in (0, 1), result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["failures"] is None
    assert not [w for w in summary["warnings"] if "failures.json" in w]
    assert 'id="failures"' not in (run_dir / "report.html").read_text()


DAMAGE = {
    "garbage": b"{oops",
    "binary": b"\xff\xfe\x00garbage",
    "a list": b"[1, 2]",
    "count is text": json.dumps({**GOOD, "total": "12"}).encode(),
    "row not an object": json.dumps({**GOOD, "failures": [3]}).encode(),
    "negative count": json.dumps(
        {**GOOD, "failures": [{**GOOD["failures"][0], "count": -1}]}  # type: ignore[dict-item]
    ).encode(),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_file_warns_and_never_changes_the_verdict(run_dir, cli, damage) -> None:
    intact = cli("report", str(run_dir))
    verdict = _verdict(run_dir)
    (run_dir / "failures.json").write_bytes(DAMAGE[damage])
    result = cli("report", str(run_dir))
    assert result.returncode == intact.returncode and "Traceback" not in result.stderr
    assert _verdict(run_dir) == verdict
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["failures"] is None
    assert any("failures.json" in w for w in summary["warnings"]), summary["warnings"]


def test_messages_reach_summary_html_and_junit(make_run, cli) -> None:
    run_dir = make_run("run", duration_s=10, rate=50, error_rate=0.05, checks=FAILING)
    (run_dir / "failures.json").write_text(json.dumps(GOOD))
    result = cli("report", str(run_dir))
    assert result.returncode == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["count"] for r in summary["failures"]["failures"]] == [10, 2]  # most frequent first
    html = (run_dir / "report.html").read_text()
    assert 'id="failures"' in html and "connection closed" in html
    assert "ConnectionResetError(&lt;b&gt;)" in html  # escaped
    cases = {c.get("name"): c for c in ET.parse(run_dir / "junit.xml").iter("testcase")}
    error_rate = cases["error_rate < 0.001%"].find("failure")
    assert error_rate is not None and error_rate.text is not None
    assert "10× GET /status/[id]: connection closed" in error_rate.text
    latency = cases["p99 < 1ms"].find("failure")
    assert latency is not None and "top failure messages" not in (latency.text or "")
