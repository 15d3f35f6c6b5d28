"""The web UI's live loadkit figures in a real Locust web UI on 127.0.0.1.

A test starts and stops through Locust's HTTP API (``/swarm``, ``/stop``) with a
real fault (a ``sleep`` process paused for 3 s); the JSON behind the page, the
page, ``/metrics`` on the web port and the React tab's rows are checked against
Locust's stats and loadkit's ``latency.hlog``. The browser test renders the page
and the tab in headless Chromium and keeps a screenshot.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from metrics_support import LOCUSTFILES, free_port, locust, poll_until, run_dirs, stop

from loadkit.rundir.hlog import decode_tag, new_histogram, read_log

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py


class WebRun:
    def __init__(self, tmp_path: Path, url: str) -> None:
        self.out = tmp_path / "reports"
        self.sleeper = subprocess.Popen(["sleep", "120"])
        plan = tmp_path / "plan.yaml"
        plan.write_text(
            f"faults:\n  - {{name: hold, at: 1s, for: 5s, kind: pause, pid: {self.sleeper.pid}}}\n"
        )
        port = free_port()
        self.ui = f"http://127.0.0.1:{port}"
        self.proc = locust(
            [
                "-f", str(LOCUSTFILES / "basic.py"), "--web-host", "127.0.0.1",
                "--web-port", str(port), "-H", url, "--loadkit-out", str(self.out),
                "--loadkit-faults", str(plan), "--loadkit-faults-index", str(tmp_path / "index"),
            ],
            cwd=tmp_path,
        )  # fmt: skip
        poll_until(self._up, timeout=90, step=0.3)

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.ui}/loadkit/live", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str) -> httpx.Response:
        response = httpx.get(f"{self.ui}{path}", timeout=30)
        response.raise_for_status()
        return response

    def live(self) -> dict[str, Any]:
        return dict(self.get("/loadkit/live").json())

    def start(self, users: int) -> None:
        data = {"user_count": users, "spawn_rate": users}
        assert httpx.post(f"{self.ui}/swarm", data=data, timeout=30).is_success

    def stop(self) -> None:
        assert httpx.post(f"{self.ui}/stop", timeout=60).status_code == 200
        poll_until(lambda: self.get("/stats/requests").json()["state"] == "stopped", timeout=60)

    def close(self) -> None:
        stop(self.proc)
        stop(self.sleeper)


@pytest.fixture
def web_run(tmp_path: Path, server: tuple[str, int]) -> Iterator[WebRun]:
    run = WebRun(tmp_path, server[0])
    try:
        yield run
    finally:
        run.close()


def _hlog(run_dir: Path) -> tuple[dict[str, Any], dict[tuple[str, float], Any]]:
    """Per endpoint: the whole run's histogram, and each interval's (ok + fail merged)."""
    run: dict[str, Any] = {}
    intervals: dict[tuple[str, float], Any] = {}
    for line in read_log(run_dir / "latency.hlog"):
        _, endpoint = decode_tag(line.tag)
        for into, key in ((run, endpoint), (intervals, (endpoint, round(line.start_s, 3)))):
            if key not in into:
                into[key] = new_histogram()
            into[key].add(line.histogram)
    return run, intervals


def test_live_json_page_tab_and_metrics_match_the_run(web_run: WebRun) -> None:
    before = web_run.live()
    assert before["run"]["run_id"] is None and before["endpoints"] == []
    assert [f["name"] for f in before["faults"]] == ["hold"]
    page = web_run.get("/loadkit")
    assert "loadkit" in page.text and 'id="endpoints"' in page.text

    web_run.start(3)
    during = poll_until(
        lambda: (
            (live := web_run.live())["run"]["users"] == 3
            and len(live["endpoints"]) == 3
            and any(f["active"] for f in live["faults"])
            and live
        ),
        timeout=60,
        step=0.3,
    )
    assert during["run"]["running"] is True and during["run"]["workers"] is None
    [fault] = during["faults"]
    assert fault["state"] == "active" and fault["injected_at_s"] >= 1.0
    assert during["probes"] == [] and during["probe_sources"] == 0
    metrics = web_run.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    labels = f'fault="hold",kind="pause",target="pid {web_run.sleeper.pid}",via="process"'
    assert f"loadkit_fault_active{{{labels}}} 1.0" in metrics.text
    poll_until(lambda: web_run.live()["faults"][0]["state"] == "reverted", timeout=30)
    web_run.stop()

    live = web_run.live()
    stats = web_run.get("/stats/requests").json()
    [run_dir] = run_dirs(web_run.out)
    assert live["run"]["run_id"] == run_dir.name and live["run"]["running"] is False
    hlog_run, hlog_intervals = _hlog(run_dir)

    # counts equal Locust's; percentiles equal the hlog's, whole run and last interval
    locust_rows = {
        f"{r['method']} {r['name']}": r for r in stats["stats"] if r["name"] != "Aggregated"
    }
    rows = {f"{e['request_type']} {e['name']}": e for e in live["endpoints"]}
    assert set(rows) == set(locust_rows) == set(hlog_run) == {"GET /fast", "GET /slow", "GET /fail"}
    last_start = round(live["run"]["last_interval"]["start"] - live["run"]["started_at"], 3)
    for endpoint, row in rows.items():
        assert row["run"]["requests"] == locust_rows[endpoint]["num_requests"] > 0
        assert row["run"]["failures"] == locust_rows[endpoint]["num_failures"]
        for p in (50, 95, 99):
            assert row["run"][f"p{p}_ms"] * 1000 == pytest.approx(
                hlog_run[endpoint].get_value_at_percentile(p), abs=1e-6
            )
        if row["last_interval"] is not None:
            expected = hlog_intervals[(endpoint, last_start)].get_value_at_percentile(95)
            assert row["last_interval"]["p95_ms"] * 1000 == pytest.approx(expected, abs=1e-6)
    assert any(row["last_interval"] for row in rows.values())
    assert live["overall"]["run"]["requests"] == sum(
        r["num_requests"] for r in locust_rows.values()
    )

    # the fault window as it really was
    [fault] = live["faults"]
    assert fault["state"] == "reverted"
    assert 4.5 < fault["reverted_at_s"] - fault["injected_at_s"] < 12

    # the React tab's rows: the same figures, formatted
    [tab] = [e for e in stats["extended_stats"] if e["key"] == "loadkit-live"]
    tab_rows = {r["endpoint"]: r for r in tab["data"]}
    assert set(tab_rows) == {*rows, "Aggregated"}
    for endpoint, row in rows.items():
        assert tab_rows[endpoint]["requests"] == row["run"]["requests"]
        assert tab_rows[endpoint]["run_p95"] == f"{row['run']['p95_ms']:,.3f}"
    assert any(e["key"] == "loadkit-faults" for e in stats["extended_stats"])  # both tabs


def _chromium(*args: str, profile: Path) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("chromium is not installed (scripts/system-setup.sh installs it)")
    return subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--virtual-time-budget=8000", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout  # fmt: skip


@pytest.mark.browser
def test_live_page_and_tab_render_in_headless_chromium(web_run: WebRun, tmp_path: Path) -> None:
    web_run.start(3)
    poll_until(lambda: web_run.live()["run"]["last_interval"]["start"], timeout=60, step=0.3)
    poll_until(lambda: any(f["active"] for f in web_run.live()["faults"]), timeout=30, step=0.2)
    profile = tmp_path / "chromium"
    shot = tmp_path / "loadkit-page.png"
    _chromium(
        "--window-size=1400,900", f"--screenshot={shot}", f"{web_run.ui}/loadkit", profile=profile
    )
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one
    dom = _chromium("--dump-dom", f"{web_run.ui}/loadkit", profile=profile)
    assert 'data-endpoint="GET /fast"' in dom and 'data-endpoint="Aggregated"' in dom
    assert 'data-fault="hold"' in dom and 'aria-label="fault timeline"' in dom
    assert "No probes in this run." in dom
    tab = _chromium("--dump-dom", f"{web_run.ui}/?tab=loadkit-live", profile=profile)
    assert ">GET /fast</td>" in tab and ">Aggregated</td>" in tab
    web_run.stop()
