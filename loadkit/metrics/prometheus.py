"""Prometheus ``/metrics`` of a running test, through the official ``prometheus-client``.

:class:`LoadkitCollector` is a custom collector: every scrape takes a fresh
:class:`~loadkit.metrics.live.Snapshot` of loadkit's own state, so the values
are the ones the run directory holds at that moment (nothing is copied into
client-side metric objects in between). Series:

==============================================  =======  ======================================
``loadkit_run_info{run_id,name}``               gauge    1 for the current (or last) run
``loadkit_run_running``                         gauge    1 while the test runs
``loadkit_run_elapsed_seconds``                 gauge    since the test start
``loadkit_users``, ``loadkit_workers``          gauge    current users; connected workers (master)
``loadkit_requests_total{request_type,name}``   counter  requests of the run, failures included
``loadkit_failures_total{request_type,name}``   counter  failed requests of the run
``loadkit_last_interval_requests{...}``         gauge    requests in the last written interval
``loadkit_last_interval_failures{...}``         gauge    failures in the last written interval
``loadkit_latency_seconds{...,window,quantile}`` gauge   HDR p50/p95/p99; window ``last_interval``
                                                         or ``run``
``loadkit_overall_latency_seconds{window,quantile}`` gauge  the same over all endpoints
``loadkit_last_interval_start_timestamp_seconds`` gauge  Unix time span of the last interval
``loadkit_last_interval_end_timestamp_seconds``
``loadkit_fault_active{fault,kind,via,target}`` gauge    1 while the fault is in effect, else 0
``loadkit_probe_value{probe,field}``            gauge    numeric probe readings (probes hook)
``loadkit_probe_state{probe,field,value}``      gauge    1 for a text reading, e.g. ``"open"``
==============================================  =======  ======================================

Counters start from zero at every test start (Prometheus' ``rate()`` handles the reset).
:func:`serve` runs the loopback listener of ``--loadkit-metrics-port``;
:func:`metrics_response` answers the web UI's ``/metrics`` route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from loadkit.errors import ConfigError
from loadkit.metrics.live import Snapshot, Window

__all__ = ["LoadkitCollector", "metrics_response", "registry_for", "serve"]

ENDPOINT_LABELS = ["request_type", "name"]
LAST_INTERVAL, RUN = "last_interval", "run"


def _quantile(percentile: float) -> str:
    return f"{percentile / 100:g}"


def _seconds(value_us: int) -> float:
    return value_us / 1_000_000


class LoadkitCollector(Collector):
    """Yields loadkit's live figures at scrape time."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        snap = self._snapshot()
        yield from self._run(snap)
        yield from self._endpoints(snap)
        yield from self._faults(snap)
        yield from self._probes(snap)

    @staticmethod
    def _run(snap: Snapshot) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        if snap.run_id is not None:
            info = InfoMetricFamily("loadkit_run", "The current (or last) loadkit run")
            info.add_metric([], {"run_id": snap.run_id, "name": snap.name or ""})
            yield info
        yield GaugeMetricFamily(
            "loadkit_run_running", "1 while a test runs, else 0", value=int(snap.running)
        )
        if snap.elapsed_s is not None:
            yield GaugeMetricFamily(
                "loadkit_run_elapsed_seconds", "Seconds since the test start", value=snap.elapsed_s
            )
        yield GaugeMetricFamily("loadkit_users", "Users running now", value=snap.users)
        if snap.workers is not None:
            yield GaugeMetricFamily("loadkit_workers", "Connected workers", value=snap.workers)
        if snap.interval_start is not None and snap.interval_end is not None:
            yield GaugeMetricFamily(
                "loadkit_last_interval_start_timestamp_seconds",
                "Unix time the last written interval starts",
                value=snap.interval_start,
            )
            yield GaugeMetricFamily(
                "loadkit_last_interval_end_timestamp_seconds",
                "Unix time the last written interval ends",
                value=snap.interval_end,
            )

    @staticmethod
    def _endpoints(snap: Snapshot) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        requests = CounterMetricFamily(
            "loadkit_requests", "Requests of the run, failures included", labels=ENDPOINT_LABELS
        )
        failures = CounterMetricFamily(
            "loadkit_failures", "Failed requests of the run", labels=ENDPOINT_LABELS
        )
        last_requests = GaugeMetricFamily(
            "loadkit_last_interval_requests",
            "Requests in the last written interval, failures included",
            labels=ENDPOINT_LABELS,
        )
        last_failures = GaugeMetricFamily(
            "loadkit_last_interval_failures",
            "Failed requests in the last written interval",
            labels=ENDPOINT_LABELS,
        )
        latency = GaugeMetricFamily(
            "loadkit_latency_seconds",
            "Latency percentiles from loadkit's HDR histograms (failures included)",
            labels=[*ENDPOINT_LABELS, "window", "quantile"],
        )
        for row in snap.endpoints:
            endpoint = [row.request_type, row.name]
            requests.add_metric(endpoint, row.run.requests)
            failures.add_metric(endpoint, row.run.failures)
            _add_percentiles(latency, endpoint, RUN, row.run)
            if row.interval is not None:
                last_requests.add_metric(endpoint, row.interval.requests)
                last_failures.add_metric(endpoint, row.interval.failures)
                _add_percentiles(latency, endpoint, LAST_INTERVAL, row.interval)
        overall = GaugeMetricFamily(
            "loadkit_overall_latency_seconds",
            "Latency percentiles over all endpoints from loadkit's HDR histograms",
            labels=["window", "quantile"],
        )
        _add_percentiles(overall, [], RUN, snap.overall_run)
        if snap.overall_interval is not None:
            _add_percentiles(overall, [], LAST_INTERVAL, snap.overall_interval)
        yield from (requests, failures, last_requests, last_failures, latency, overall)

    @staticmethod
    def _faults(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
        active = GaugeMetricFamily(
            "loadkit_fault_active",
            "1 while the planned fault is in effect, else 0",
            labels=["fault", "kind", "via", "target"],
        )
        for fault in snap.faults:
            active.add_metric([fault.name, fault.kind, fault.via, fault.target], int(fault.active))
        yield active

    @staticmethod
    def _probes(snap: Snapshot) -> Iterator[GaugeMetricFamily]:
        values = GaugeMetricFamily(
            "loadkit_probe_value", "Latest numeric probe reading", labels=["probe", "field"]
        )
        states = GaugeMetricFamily(
            "loadkit_probe_state",
            "1 for the latest text probe reading",
            labels=["probe", "field", "value"],
        )
        for reading in snap.probes:
            value = reading.value
            if isinstance(value, bool | int | float):
                values.add_metric([reading.probe, reading.field], float(value))
            elif isinstance(value, str):
                states.add_metric([reading.probe, reading.field, value], 1)
        yield from (values, states)


def _add_percentiles(
    family: GaugeMetricFamily, labels: list[str], window: str, figures: Window
) -> None:
    for percentile, value_us in figures.percentiles_us().items():
        if value_us is not None:
            family.add_metric([*labels, window, _quantile(percentile)], _seconds(value_us))


def registry_for(snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    """A registry holding only loadkit's collector (no process/platform defaults)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LoadkitCollector(snapshot))
    return registry


def metrics_response(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The body and content type of a scrape (format negotiated from ``Accept``)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from the gevent loop; ``stop()`` it at the end."""
    server = WSGIServer((host, port), make_wsgi_app(registry), log=None, error_log=None)
    try:
        server.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})",
            field="--loadkit-metrics-port",
            fix="pick a free port",
        ) from None
    return server
