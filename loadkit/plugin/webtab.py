"""The one way a part adds a page and a tab to Locust's web UI and guards its routes.

A part's web UI is a Flask blueprint made by :func:`part_blueprint` (with the
part's HTML page already routed), to which the part adds its own routes, then
:func:`mount` registers it and adds the part's tab. Locust's React UI draws
"extended tabs" from ``template_args`` and fills them from the
``extended_stats`` of ``/stats/requests``: :func:`add_tab` declares a tab and
appends its rows to every ``/stats/requests`` answer. :func:`auth_guard` wraps
a view in Locust's login check (its decorator is unannotated), so a part's
routes are behind the same login as Locust's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Blueprint, Response, request

if TYPE_CHECKING:
    from locust.web import WebUI

__all__ = ["add_tab", "auth_guard", "mount", "part_blueprint"]

View = TypeVar("View", bound=Callable[..., Any])


def auth_guard(web_ui: WebUI) -> Callable[[View], View]:
    """A decorator: the view answers only where Locust's web login (if on) lets it."""

    def guard(view: View) -> View:
        return cast(View, web_ui.auth_required_if_enabled(view))

    return guard


def part_blueprint(
    web_ui: WebUI, package: str, *, page: str, template: str
) -> tuple[Blueprint, Callable[[View], View]]:
    """A blueprint for ``package``'s routes, with its HTML page (``templates/<template>``
    in ``package``) at ``page``; and the login guard for the routes the part adds."""
    blueprint = Blueprint(package.replace(".", "_"), package)
    guard = auth_guard(web_ui)
    html = resources.files(package) / "templates" / template

    def show_page() -> Response:
        return Response(html.read_text("utf-8"), mimetype="text/html")

    blueprint.add_url_rule(page, endpoint="page", view_func=guard(show_page))
    return blueprint, guard


def mount(
    web_ui: WebUI,
    blueprint: Blueprint,
    *,
    title: str,
    key: str,
    structure: list[dict[str, str]],
    rows: Callable[[], list[dict[str, Any]]],
) -> None:
    """Register a part's blueprint (routes are final from here on) and add its tab."""
    if web_ui.app is None:  # Locust creates it with the WebUI: never None once init fires
        return
    web_ui.app.register_blueprint(blueprint)
    add_tab(web_ui, title=title, key=key, structure=structure, rows=rows)


def add_tab(
    web_ui: WebUI,
    *,
    title: str,
    key: str,
    structure: list[dict[str, str]],
    rows: Callable[[], list[dict[str, Any]]],
) -> None:
    """Declare a tab ``title`` and fill it with ``rows()`` on every stats poll."""
    app = web_ui.app
    if app is None:  # Locust creates it with the WebUI: never None once init fires
        return
    args = web_ui.template_args
    args["extended_tabs"] = [*args.get("extended_tabs", []), {"title": title, "key": key}]
    args["extended_tables"] = [
        *args.get("extended_tables", []),
        {"key": key, "structure": structure},
    ]

    @app.after_request
    def add_rows(response: Response) -> Response:
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        payload = response.get_json(silent=True)
        if not isinstance(payload, dict):
            return response
        extended = [e for e in payload.get("extended_stats") or [] if e.get("key") != key]
        extended.append({"key": key, "data": rows()})
        payload["extended_stats"] = extended
        response.set_data(json.dumps(payload))
        return response
