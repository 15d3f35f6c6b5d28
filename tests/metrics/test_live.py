"""The live figures and the Prometheus collector, in process (no Locust run).

The live figures are fed exactly what the merger writes to ``latency.hlog``; these
tests write real hlog files through a real ``IntervalMerger`` and compare.
"""

from __future__ import annotations

import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadkit.errors import ConfigError
from loadkit.metrics.intervals import Counts, IntervalMerger
from loadkit.metrics.live import (
    FaultRow,
    LiveFigures,
    ProbeReading,
    percentile_us,
    percentiles_us,
)
from loadkit.metrics.live_plugin import parse_port
from loadkit.metrics.prometheus import metrics_response, registry_for
from loadkit.rundir.hlog import (
    HlogWriter,
    counts_index,
    decode_tag,
    histogram_from_counts,
    read_log,
)

START = 1_795_000_000.0


def _random_counts(rng: random.Random, n: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for _ in range(n):
        value_us = int(rng.lognormvariate(9, 1.5))  # ~8 ms median, long tail
        index = counts_index(value_us)
        counts[index] = counts.get(index, 0) + 1
    return counts


@pytest.mark.parametrize("seed", range(20))
def test_percentiles_equal_hdrhistogram(seed: int) -> None:
    rng = random.Random(seed)
    counts = _random_counts(rng, rng.choice([1, 2, 3, 10, 99, 1000, 5000]))
    histogram = histogram_from_counts(counts)
    for p in (0.1, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0):
        assert percentile_us(counts, p) == histogram.get_value_at_percentile(p), p
    assert percentiles_us(counts, (50.0, 95.0, 99.0)) == tuple(
        histogram.get_value_at_percentile(p) for p in (50.0, 95.0, 99.0)
    )
    assert percentile_us({}, 50.0) is None and percentiles_us({}, (50.0, 99.0)) == (None, None)


def _feed(tmp_path, intervals: list[tuple[int, Counts]]) -> tuple[LiveFigures, list]:
    """Write intervals through a real merger with the live figures attached."""
    figures = LiveFigures()
    figures.start_run("run-1", "demo", START, 1.0)
    writer = HlogWriter(tmp_path / "latency.hlog", START)
    merger = IntervalMerger(writer, 1.0, START)
    merger.on_written = figures.add_interval
    for index, counts in intervals:
        merger.add(index, counts)
        merger.write_due((index + 2) * 1.0 + 0.01)
    merger.write_all()
    writer.close()
    return figures, list(read_log(tmp_path / "latency.hlog"))


def test_figures_equal_the_hlog_they_were_fed_with(tmp_path) -> None:
    rng = random.Random(7)
    base = int(START)
    intervals = [
        (
            base + i,
            {
                ("GET", "/a", True): _random_counts(rng, 300),
                ("GET", "/a", False): _random_counts(rng, 7),
                ("POST", "/b", True): _random_counts(rng, 50),
            },
        )
        for i in range(5)
    ]
    intervals.append((base + 5, {("GET", "/a", True): _random_counts(rng, 40)}))  # /b idle
    figures, lines = _feed(tmp_path, intervals)
    snap = figures.snapshot(running=True, users=4, now=START + 10)

    merged: dict[str, dict[int, int]] = {}
    last: dict[str, dict[int, int]] = {}
    for line in lines:
        _, endpoint = decode_tag(line.tag)
        h = line.histogram
        for key, into in ((endpoint, merged), (endpoint, last if line.start_s >= 5 else {})):
            bucket = into.setdefault(key, {})
            for i in range(h.counts_len):
                if h.get_count_at_index(i):
                    bucket[i] = bucket.get(i, 0) + h.get_count_at_index(i)
    rows = {f"{r.request_type} {r.name}": r for r in snap.endpoints}
    assert set(rows) == {"GET /a", "POST /b"}
    for endpoint, row in rows.items():
        hist = histogram_from_counts(merged[endpoint])
        assert row.run.requests == hist.get_total_count()
        assert row.run.p95_us == hist.get_value_at_percentile(95)
        assert row.run.p99_us == hist.get_value_at_percentile(99)
    assert rows["GET /a"].run.failures == 5 * 7 and rows["POST /b"].run.failures == 0
    assert rows["POST /b"].interval is None  # no request in the last interval
    assert rows["GET /a"].interval is not None
    assert rows["GET /a"].interval.requests == 40
    assert rows["GET /a"].interval.p95_us == histogram_from_counts(
        last["GET /a"]
    ).get_value_at_percentile(95)
    assert (snap.interval_start, snap.interval_end) == (base + 5, base + 6)
    assert snap.overall_run.requests == sum(r.run.requests for r in snap.endpoints)


def test_late_line_of_an_older_interval_counts_for_the_run_only(tmp_path) -> None:
    base = int(START)
    figures = LiveFigures()
    figures.start_run("run-1", "demo", START, 1.0)
    figures.add_interval(base + 3, base + 3, base + 4, {("GET", "/a", True): {100: 2}})
    figures.add_interval(base + 2, base + 2, base + 3, {("GET", "/a", True): {200: 5}})  # late
    figures.add_interval(base + 3, base + 3, base + 4, {("GET", "/a", False): {300: 1}})  # extra
    row = figures.snapshot(running=True, users=0).endpoints[0]
    assert (row.run.requests, row.run.failures) == (8, 1)
    assert row.interval is not None and (row.interval.requests, row.interval.failures) == (3, 1)
    figures.start_run("run-2", "demo", START + 60, 1.0)  # a new test forgets the old one
    snap = figures.snapshot(running=True, users=0)
    assert snap.endpoints == [] and snap.run_id == "run-2" and snap.overall_interval is None


def test_a_broken_interval_never_breaks_the_writer(tmp_path) -> None:
    figures = LiveFigures()
    figures.start_run("run-1", "demo", START, 1.0)
    figures.add_interval(1, 1.0, 2.0, {("GET", "/a", True): None})  # type: ignore[dict-item]
    figures.add_interval(2, 2.0, 3.0, {("GET", "/a", True): {5: 3}})
    [row] = figures.snapshot(running=False, users=0).endpoints
    assert row.run.requests == 3 and row.interval is not None and row.interval.requests == 3


class _Breaker:
    """A probe source as the probes part will register one (the hook's contract)."""

    def readings(self) -> list[ProbeReading]:
        return [
            ProbeReading("breaker", "state", "open", START),
            ProbeReading("queue", "depth", 12, START),
            ProbeReading("health", "ok", False, START),
            ProbeReading("health", "latency", None, START),
        ]


def _scrape(figures: LiveFigures, **snapshot: object) -> dict[str, list]:
    registry = registry_for(lambda: figures.snapshot(**snapshot))  # type: ignore[arg-type]
    body, content_type = metrics_response(registry, "text/plain")
    assert content_type.startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(body.decode())}


def test_collector_exposes_endpoints_faults_and_probes() -> None:
    base = int(START)
    figures = LiveFigures()
    figures.start_run("run-1", "demo", START, 1.0)
    figures.add_interval(
        base, START, base + 1, {("GET", "/a", True): {1000: 9}, ("GET", "/a", False): {3000: 1}}
    )
    faults = [
        FaultRow("slow", "latency", "proxy", "", 1.0, 5.0, "active", 1.02, None, ""),
        FaultRow("pause", "pause", "process", "gateway", 9.0, 2.0, "pending", None, None, ""),
    ]
    samples = _scrape(figures, running=True, users=5, workers=2, faults=faults, now=START + 3)
    assert "loadkit_probe_value" not in samples or not samples["loadkit_probe_value"]

    by_name = {
        name: {tuple(sorted(s.labels.items())): s.value for s in ss} for name, ss in samples.items()
    }
    endpoint = (("name", "/a"), ("request_type", "GET"))
    assert by_name["loadkit_requests"][endpoint] == 10
    assert by_name["loadkit_failures"][endpoint] == 1
    assert by_name["loadkit_users"][()] == 5 and by_name["loadkit_workers"][()] == 2
    assert by_name["loadkit_run_running"][()] == 1
    assert by_name["loadkit_run_info"][(("name", "demo"), ("run_id", "run-1"))] == 1
    p99 = (
        ("name", "/a"),
        ("quantile", "0.99"),
        ("request_type", "GET"),
        ("window", "last_interval"),
    )
    assert by_name["loadkit_latency_seconds"][p99] == percentile_us({1000: 9, 3000: 1}, 99) / 1e6
    fault = by_name["loadkit_fault_active"]
    assert fault[(("fault", "slow"), ("kind", "latency"), ("target", ""), ("via", "proxy"))] == 1
    assert (
        fault[(("fault", "pause"), ("kind", "pause"), ("target", "gateway"), ("via", "process"))]
        == 0
    )

    figures.add_probe_source(_Breaker())
    samples = _scrape(figures, running=True, users=5)
    values = {
        (s.labels["probe"], s.labels["field"]): s.value for s in samples["loadkit_probe_value"]
    }
    assert values == {("queue", "depth"): 12.0, ("health", "ok"): 0.0}  # no reading: no sample
    [state] = samples["loadkit_probe_state"]
    assert (
        state.labels == {"probe": "breaker", "field": "state", "value": "open"} and state.value == 1
    )


@pytest.mark.parametrize("value", ["abc", "-1", "70000", "9646.5"])
def test_bad_metrics_port_names_the_flag(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^--loadkit-metrics-port: .*not a TCP port; write"):
        parse_port(value)


def test_metrics_port_off_by_default() -> None:
    assert parse_port("") is None and parse_port(None) is None and parse_port("0") is None
    assert parse_port(" 9646 ") == 9646


def test_live_view_follows_each_run_of_the_recorder(tmp_path) -> None:
    """In process: a real Locust Environment and RunRecorder; no web UI, no listener."""
    import argparse
    import time

    from locust.env import Environment

    from loadkit.metrics.live_plugin import attach, live_figures, live_snapshot
    from loadkit.metrics.recorder import RunInfo, RunRecorder
    from loadkit.plugin.context import plugin_context

    env = Environment(parsed_options=argparse.Namespace(loadkit_metrics_port=""))
    env.create_local_runner()
    recorder = RunRecorder()
    view = attach(plugin_context(env), recorder)
    assert view is not None and live_figures(env) is view.figures
    before = live_snapshot(env)
    assert before is not None and before.run_id is None and not before.running
    info = RunInfo("demo", None, None, None, "local", 0, [], None, {}, [], {}, None)
    for attempt in range(2):  # a second test start gets fresh figures
        run = recorder.start(tmp_path, info, 1.0, [])
        env.events.test_start.fire(environment=env)
        index = int(time.time()) - 5
        run.merger.add(index, {("GET", "/x", True): {counts_index(12_500): 50 + attempt}})
        run.merger.write_due(time.time())
        snap = live_snapshot(env)
        assert snap is not None and snap.running and snap.run_id == run.run_id
        [row] = snap.endpoints
        assert row.run.requests == 50 + attempt and row.run.p95_us == percentile_us(
            {counts_index(12_500): 1}, 95
        )
        recorder.stop()
        env.events.test_stop.fire(environment=env)
        recorder.finish(0, False, None)
        after = live_snapshot(env)
        assert after is not None and not after.running and after.elapsed_s is not None
    recorder.close()
