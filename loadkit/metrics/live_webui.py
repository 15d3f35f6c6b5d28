"""loadkit's live figures in Locust's web UI.

- a "loadkit" tab in Locust's own (React) UI: an extended table fed through
  ``/stats/requests`` (``extended_stats``): per endpoint loadkit's HDR
  p50/p95/p99 of the last interval and of the whole run;
- ``GET /loadkit``: a page in Locust's look with the same table, the fault
  timeline (planned and actual windows) and the probe values;
- ``GET /loadkit/live``: the snapshot behind both, as JSON (milliseconds);
- ``GET /metrics``: the Prometheus text format (``loadkit.metrics.prometheus``).

All routes honour Locust's web UI authentication when it is enabled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request
from prometheus_client import CollectorRegistry

from loadkit.metrics.live import Snapshot, Window
from loadkit.metrics.prometheus import metrics_response
from loadkit.plugin.webtab import mount, part_blueprint

if TYPE_CHECKING:
    from locust.web import WebUI

__all__ = ["TAB_KEY", "install", "snapshot_json", "tab_rows"]

TAB_KEY = "loadkit-live"
OVERALL = "Aggregated"
TABLE_STRUCTURE = [
    {"key": "endpoint", "title": "Endpoint"},
    {"key": "requests", "title": "Requests"},
    {"key": "failures", "title": "Failures"},
    {"key": "last_p50", "title": "p50 last interval (ms)"},
    {"key": "last_p95", "title": "p95 last interval (ms)"},
    {"key": "last_p99", "title": "p99 last interval (ms)"},
    {"key": "run_p50", "title": "p50 run (ms)"},
    {"key": "run_p95", "title": "p95 run (ms)"},
    {"key": "run_p99", "title": "p99 run (ms)"},
]


def _ms(value_us: int | None) -> float | None:
    return None if value_us is None else value_us / 1000


def _window_json(window: Window | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "requests": window.requests,
        "failures": window.failures,
        "p50_ms": _ms(window.p50_us),
        "p95_ms": _ms(window.p95_us),
        "p99_ms": _ms(window.p99_us),
    }


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """The snapshot as JSON: latencies in milliseconds, times as Unix seconds."""
    return {
        "run": {
            "run_id": snap.run_id,
            "name": snap.name,
            "running": snap.running,
            "started_at": snap.started_at,
            "elapsed_s": snap.elapsed_s,
            "interval_s": snap.interval_s,
            "last_interval": {"start": snap.interval_start, "end": snap.interval_end},
            "users": snap.users,
            "workers": snap.workers,
        },
        "endpoints": [
            {
                "request_type": row.request_type,
                "name": row.name,
                "run": _window_json(row.run),
                "last_interval": _window_json(row.interval),
            }
            for row in snap.endpoints
        ],
        "overall": {
            "run": _window_json(snap.overall_run),
            "last_interval": _window_json(snap.overall_interval),
        },
        "faults": [{**asdict(fault), "active": fault.active} for fault in snap.faults],
        "probes": [asdict(reading) for reading in snap.probes],
        "probe_sources": snap.probe_sources,
    }


def _cell(value_us: int | None) -> str:
    return "" if value_us is None else f"{value_us / 1000:,.3f}"


def _tab_row(endpoint: str, run: Window, last: Window | None) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "requests": run.requests,
        "failures": run.failures,
        "last_p50": _cell(last.p50_us if last else None),
        "last_p95": _cell(last.p95_us if last else None),
        "last_p99": _cell(last.p99_us if last else None),
        "run_p50": _cell(run.p50_us),
        "run_p95": _cell(run.p95_us),
        "run_p99": _cell(run.p99_us),
    }


def tab_rows(snap: Snapshot) -> list[dict[str, Any]]:
    """Rows of the React "loadkit" tab: one per endpoint, then the aggregate."""
    rows = [
        _tab_row(f"{row.request_type} {row.name}", row.run, row.interval) for row in snap.endpoints
    ]
    if snap.endpoints:
        rows.append(_tab_row(OVERALL, snap.overall_run, snap.overall_interval))
    return rows


def install(web_ui: WebUI, snapshot: Callable[[], Snapshot], registry: CollectorRegistry) -> None:
    """Add the tab, the page and the routes to a Locust ``WebUI``."""
    blueprint, guard = part_blueprint(
        web_ui, "loadkit.metrics", page="/loadkit", template="live.html"
    )

    @blueprint.route("/loadkit/live")
    @guard
    def live_json() -> Response:
        return jsonify(snapshot_json(snapshot()))

    @blueprint.route("/metrics")
    @guard
    def metrics() -> Response:
        body, content_type = metrics_response(registry, request.headers.get("Accept"))
        return Response(body, headers={"Content-Type": content_type})

    mount(
        web_ui,
        blueprint,
        title="loadkit",
        key=TAB_KEY,
        structure=TABLE_STRUCTURE,
        rows=lambda: tab_rows(snapshot()),
    )
