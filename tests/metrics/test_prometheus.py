"""``--loadkit-metrics-port`` scraped by a real Prometheus server on 127.0.0.1.

The test starts Debian's ``prometheus`` (temp config and storage, a free port,
1 s scrape interval) against the loopback listener of a real Locust run, then
asks Prometheus' HTTP API what it stored, and compares with the run: Locust's
own stats, and loadkit's ``latency.hlog`` interval by interval. Skips, saying
why, when the ``prometheus`` binary is missing (``scripts/system-setup.sh``
installs it).

The main run ends the way the web UI's Stop does (``--autostart --autoquit``):
after the test stops the process stays up, so Prometheus scrapes the final
figures (a headless ``-t`` run quits at once, and its last second is never
scraped). A second, headless run checks the listener with the web UI off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from metrics_support import LOCUSTFILES, free_port, locust, poll_until, run_dirs, stop

from loadkit.rundir.hlog import decode_tag, new_histogram, read_log

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="needs Debian's prometheus binary (apt-get install prometheus; "
        "scripts/system-setup.sh does it)",
    ),
    pytest.mark.exclusive,
]


class Prometheus:
    """A real Prometheus server scraping one target every second."""

    def __init__(self, tmp_path: Path, target_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 900ms}\n"
            "scrape_configs:\n"
            "  - job_name: loadkit\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        self.log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
        assert PROMETHEUS is not None
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        poll_until(self._ready, timeout=60, step=0.2)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def scalar_by(self, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {
            tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1])
            for r in self.query(expr)
        }

    def close(self) -> None:
        stop(self.proc)
        self.log.close()


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(target_port: int) -> Prometheus:
        server = Prometheus(tmp_path, target_port)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.close()


def _locust_stats(web: str) -> dict[str, Any]:
    return dict(httpx.get(f"{web}/stats/requests", timeout=10).json())


def _hlog_p95_by_interval(run_dir: Path) -> dict[tuple[str, float], int]:
    """``(endpoint, interval start relative to the run) -> p95 µs`` (ok + fail merged)."""
    merged: dict[tuple[str, float], Any] = {}
    for line in read_log(run_dir / "latency.hlog"):
        _, endpoint = decode_tag(line.tag)
        key = (endpoint, round(line.start_s, 3))
        if key not in merged:
            merged[key] = new_histogram()
        merged[key].add(line.histogram)
    return {key: int(h.get_value_at_percentile(95)) for key, h in merged.items()}


def test_prometheus_scrapes_live_figures_that_match_the_run(
    tmp_path: Path, server: tuple[str, int], prometheus_for: Any
) -> None:
    url, _ = server
    out = tmp_path / "reports"
    metrics_port, web_port = free_port(), free_port()
    sleeper = subprocess.Popen(["sleep", "120"])
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"faults:\n  - {{name: hold, at: 1s, for: 5s, kind: pause, pid: {sleeper.pid}}}\n"
    )
    prometheus = prometheus_for(metrics_port)
    web = f"http://127.0.0.1:{web_port}"
    proc = locust(
        [
            "-f", str(LOCUSTFILES / "basic.py"), "--autostart", "--autoquit", "120", "-t", "8s",
            "--web-host", "127.0.0.1", "--web-port", str(web_port), "-u", "3", "-r", "3",
            "-H", url, "--loadkit-out", str(out), "--loadkit-metrics-port", str(metrics_port),
            "--loadkit-faults", str(plan), "--loadkit-faults-index", str(tmp_path / "index"),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        # live: Prometheus sees the users and requests while the test runs
        poll_until(lambda: prometheus.scalar_by("loadkit_users == 3"), timeout=120, step=0.5)
        poll_until(
            lambda: prometheus.scalar_by(
                "loadkit_run_running == 1 and on() sum(loadkit_requests_total) > 0"
            ),
            timeout=60,
            step=0.5,
        )
        poll_until(lambda: _locust_stats(web)["state"] == "stopped", timeout=120, step=0.5)
        poll_until(lambda: prometheus.scalar_by("loadkit_run_running == 0"), timeout=60, step=0.5)
        time.sleep(2.5)  # two more scrapes: the final figures, all written at test stop
        stats = _locust_stats(web)
        requests = prometheus.scalar_by("loadkit_requests_total", "request_type", "name")
        failures = prometheus.scalar_by("loadkit_failures_total", "request_type", "name")
        latency = prometheus.query(
            'loadkit_latency_seconds{window="last_interval",quantile="0.95"}[5m]'
        )
        starts = prometheus.query("loadkit_last_interval_start_timestamp_seconds[5m]")
        fault = prometheus.query('loadkit_fault_active{fault="hold"}[5m]')
        run_info = prometheus.query("loadkit_run_info")
        scrapes = prometheus.query('up{job="loadkit"}[5m]')  # for the messages below
        users_max = prometheus.scalar_by("max_over_time(loadkit_users[5m])")
        dashboard = {expr: prometheus.query(expr) for expr in _dashboard_queries()}
    finally:
        stop(proc)
        stop(sleeper)
    output = proc.stdout.read() if proc.stdout else ""

    # counts: Prometheus holds exactly Locust's totals per endpoint
    locust_rows = {
        (row["method"], row["name"]): row for row in stats["stats"] if row["name"] != "Aggregated"
    }
    assert (
        set(requests) == set(locust_rows) == {("GET", "/fast"), ("GET", "/slow"), ("GET", "/fail")}
    )
    for key, row in locust_rows.items():
        assert requests[key] == row["num_requests"] > 0, (key, output[-2000:])
        assert failures[key] == row["num_failures"], key
    assert failures[("GET", "/fail")] == requests[("GET", "/fail")]
    assert users_max == {(): 3.0}

    [run_dir] = run_dirs(out)
    assert run_info[0]["metric"]["run_id"] == run_dir.name
    run = json.loads((run_dir / "run.json").read_text())
    assert run["totals"]["requests"] == sum(requests.values())

    # p95 of each scraped "last interval" is the hlog's p95 of that very interval
    start_at = {ts: float(v) for ts, v in starts[0]["values"]}
    hlog_p95 = _hlog_p95_by_interval(run_dir)
    compared = 0
    for series in latency:
        endpoint = f"{series['metric']['request_type']} {series['metric']['name']}"
        for ts, value in series["values"]:
            relative = round(start_at[ts] - run["started_at"], 3)
            assert round(float(value) * 1_000_000) == hlog_p95[(endpoint, relative)], (
                endpoint,
                relative,
            )
            compared += 1
    assert compared >= 9  # three endpoints, several scrapes each

    # the fault: active (1) in some scrape while it was in effect, 0 at the end
    [series] = fault
    values = [float(v) for _, v in series["values"]]
    assert 1.0 in values and values[-1] == 0.0, (values, scrapes)
    assert series["metric"]["kind"] == "pause" and series["metric"]["via"] == "process"

    # the Grafana dashboard: every query answers; empty only without probes / workers
    assert len(dashboard) >= 15
    for expr, result in dashboard.items():
        assert bool(result) != expr.startswith(("loadkit_probe", "loadkit_workers")), expr


def _dashboard_queries() -> list[str]:
    """Every query of docs/grafana-dashboard.json, Grafana's variables filled in."""
    path = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
    document = json.loads(path.read_text())
    exprs = [target["expr"] for panel in document["panels"] for target in panel["targets"]]
    # annotations are range queries in Grafana: a subquery over the run
    exprs += [f"({a['expr']})[5m:1s]" for a in document["annotations"]["list"]]
    fill = {"$instance": ".*", "$__rate_interval": "1m"}
    for variable, value in fill.items():
        exprs = [expr.replace(variable, value) for expr in exprs]
    return exprs


def test_headless_run_serves_metrics_on_loopback_only_while_it_runs(
    tmp_path: Path, server: tuple[str, int], prometheus_for: Any
) -> None:
    url, _ = server
    metrics_port = free_port()
    prometheus = prometheus_for(metrics_port)
    proc = locust(
        [
            "-f", str(LOCUSTFILES / "basic.py"), "--headless", "-t", "10s", "-u", "2", "-r", "2",
            "-H", url, "--loadkit-out", str(tmp_path / "reports"),
            "--loadkit-metrics-port", str(metrics_port),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        # the listener, seen from the OS while the run goes (not after Prometheus's
        # next scrape, by which time a short run on a busy machine may be over)
        poll_until(lambda: _listening_addresses(proc.pid, metrics_port), timeout=60, step=0.1)
        assert _listening_addresses(proc.pid, metrics_port) == {"127.0.0.1"}
        poll_until(
            lambda: prometheus.scalar_by('up{job="loadkit"} == 1 and on() loadkit_users == 2'),
            timeout=120,
            step=0.5,
        )
        proc.wait(timeout=120)
    finally:
        stop(proc)
    assert proc.returncode == 1  # /fail fails
    served = prometheus.scalar_by("max_over_time(loadkit_requests_total[5m])", "name")
    assert served[("/fast",)] > 0
    poll_until(lambda: prometheus.scalar_by('up{job="loadkit"} == 0'), timeout=30, step=0.5)


def _listening_addresses(pid: int, port: int) -> set[str]:
    return {
        conn.laddr.ip
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }


@pytest.mark.parametrize("port", ["abc", "taken"])
def test_bad_metrics_port_exits_2_with_one_line(tmp_path: Path, port: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        value = str(busy.getsockname()[1]) if port == "taken" else port
        proc = locust(
            [
                "-f", str(LOCUSTFILES / "basic.py"), "--headless", "-t", "3s", "-u", "1",
                "-H", "http://127.0.0.1:9", "--loadkit-out", str(tmp_path / "reports"),
                "--loadkit-metrics-port", value,
            ],
            cwd=tmp_path,
        )  # fmt: skip
        output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    [line] = [x for x in output.splitlines() if "loadkit: error:" in x]
    assert "--loadkit-metrics-port:" in line
    assert ("not a TCP port" in line) if port == "abc" else ("pick a free port" in line)
