"""The "Faults" tab of Locust's web UI and the routes behind it.

- a "Faults" tab in Locust's own (React) UI: an extended table fed through
  ``/stats/requests`` (``extended_stats``), listing the plan with live state;
- ``GET /faults``: a small page with the same table and buttons to inject or
  revert a fault now (the React tables cannot hold buttons);
- ``GET /faults/state``: the plan with live state as JSON;
- ``POST /faults/<name>/inject`` and ``POST /faults/<name>/revert``.

All routes honour Locust's web UI authentication when it is enabled. The
routes act on processes and services (they can SIGSTOP and kill), so without
Locust's web login they answer loopback clients only (403 otherwise), even
when Locust's web UI listens on every interface.

A manual inject of a fault with ``for:`` is reverted ``for`` later (reason
``manual``), unless it was reverted or injected again before. A manual
inject has no "Late (ms)": nothing was planned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gevent
from flask import Response, abort, jsonify, request

from loadkit.faults.schedule import FaultSchedule
from loadkit.plugin.webtab import mount, part_blueprint
from loadkit.safety.loopback import is_loopback

if TYPE_CHECKING:
    from locust.web import WebUI

__all__ = ["TAB_KEY", "install"]

TAB_KEY = "loadkit-faults"
TABLE_STRUCTURE = [
    {"key": "name", "title": "Fault"},
    {"key": "kind", "title": "Kind"},
    {"key": "target", "title": "Target"},
    {"key": "when", "title": "Planned"},
    {"key": "state", "title": "State"},
    {"key": "late_ms", "title": "Late (ms)"},
    {"key": "error", "title": "Error"},
    {"key": "control", "title": "Inject / revert now"},
]


def _when(row: dict[str, Any]) -> str:
    start = f"{row['at_s']:g}s"
    return (
        f"{start} for {row['for_s']:g}s" if row["for_s"] is not None else f"{start} until reverted"
    )


def table_rows(schedule: FaultSchedule) -> list[dict[str, Any]]:
    rows = []
    for row in schedule.snapshot():
        rows.append(
            {
                **row,
                "when": _when(row),
                "late_ms": "" if row["late_ms"] is None else f"{row['late_ms']:.1f}",
                "error": row["error"] or "",
                "control": "buttons at /faults",
            }
        )
    return rows


def _revert_after_for(schedule: FaultSchedule, name: str) -> None:
    """A manual inject honours ``for:``: revert it then, unless it changed meanwhile."""
    status = schedule.statuses[name]
    for_s = status.spec.for_s
    if status.state != "active" or for_s is None or status.spec.instant:
        return
    injected_at = status.injected_at

    def revert_if_same() -> None:
        current = schedule.statuses[name]
        if current.state == "active" and current.injected_at == injected_at:
            schedule.revert(name, reason="manual")

    gevent.spawn_later(for_s, revert_if_same)


def install(web_ui: WebUI, schedule: FaultSchedule) -> None:
    """Add the tab, the page and the routes to a Locust ``WebUI``."""
    blueprint, guard = part_blueprint(
        web_ui, "loadkit.faults", page="/faults", template="faults.html"
    )
    login = bool(getattr(web_ui, "web_login", False))

    @blueprint.before_request
    def loopback_only() -> None:
        if not login and not is_loopback(request.remote_addr or ""):
            abort(403, "the fault routes answer loopback clients only (or use --web-login)")

    @blueprint.route("/faults/state")
    @guard
    def faults_state() -> Response:
        return jsonify(
            {"running": schedule.running, "t0": schedule.t0, "faults": schedule.snapshot()}
        )

    @blueprint.route("/faults/<name>/<action>", methods=["POST"])
    @guard
    def faults_action(name: str, action: str) -> tuple[Response, int]:
        if name not in schedule.specs:
            return jsonify({"error": f"no fault named {name!r}", "field": "name"}), 404
        if action == "inject":
            status = schedule.inject(name)
            _revert_after_for(schedule, name)
        elif action == "revert":
            status = schedule.revert(name, reason="manual")
        else:
            return jsonify({"error": f"unknown action {action!r}", "field": "action"}), 404
        row = next(r for r in schedule.snapshot() if r["name"] == name)
        code = 200 if status.state not in ("failed", "revert_failed") else 502
        return jsonify(row), code

    mount(
        web_ui,
        blueprint,
        title="Faults",
        key=TAB_KEY,
        structure=TABLE_STRUCTURE,
        rows=lambda: table_rows(schedule),
    )
