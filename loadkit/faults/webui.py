"""The "Faults" tab of Locust's web UI and the routes behind it.

- a "Faults" tab in Locust's own (React) UI: an extended table fed through
  ``/stats/requests`` (``extended_stats``), listing the plan with live state;
- ``GET /faults``: a small page with the same table and buttons to inject or
  revert a fault now (the React tables cannot hold buttons);
- ``GET /faults/state``: the plan with live state as JSON;
- ``POST /faults/<name>/inject`` and ``POST /faults/<name>/revert``.

All routes honour Locust's web UI authentication when it is enabled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Blueprint, Response, jsonify, request

from loadkit.faults.schedule import FaultSchedule

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


def _page() -> str:
    return (resources.files("loadkit.faults") / "templates" / "faults.html").read_text("utf-8")


_View = TypeVar("_View", bound=Callable[..., Any])


def install(web_ui: WebUI, schedule: FaultSchedule) -> None:
    """Add the tab, the page and the routes to a Locust ``WebUI``."""
    app = web_ui.app
    if app is None:  # Locust creates it with the WebUI: never None once init fires
        return
    blueprint = Blueprint("loadkit_faults", __name__)

    def guard(view: _View) -> _View:  # Locust's decorator is unannotated; it keeps the view
        return cast(_View, web_ui.auth_required_if_enabled(view))

    @blueprint.route("/faults")
    @guard
    def faults_page() -> Response:
        return Response(_page(), mimetype="text/html")

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
        elif action == "revert":
            status = schedule.revert(name, reason="manual")
        else:
            return jsonify({"error": f"unknown action {action!r}", "field": "action"}), 404
        row = next(r for r in schedule.snapshot() if r["name"] == name)
        code = 200 if status.state not in ("failed", "revert_failed") else 502
        return jsonify(row), code

    app.register_blueprint(blueprint)

    args = web_ui.template_args
    args["extended_tabs"] = [*args.get("extended_tabs", []), {"title": "Faults", "key": TAB_KEY}]
    args["extended_tables"] = [
        *args.get("extended_tables", []),
        {"key": TAB_KEY, "structure": TABLE_STRUCTURE},
    ]

    @app.after_request
    def add_fault_rows(response: Response) -> Response:
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        payload = response.get_json(silent=True)
        if not isinstance(payload, dict):
            return response
        extended = [e for e in payload.get("extended_stats") or [] if e.get("key") != TAB_KEY]
        extended.append({"key": TAB_KEY, "data": table_rows(schedule)})
        payload["extended_stats"] = extended
        response.set_data(json.dumps(payload))
        return response
