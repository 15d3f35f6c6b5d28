"""Custom arguments sent from the web UI are checked like the command line.

Locust's ``/swarm`` copies the form's values into the parsed options with no
check, so a bad value (``job_tasks=nope:1``) used to kill every user with a
traceback while the UI showed 0% failures. This guard runs each value through
its argument's own parser first (:data:`loadkit.users.args.WEB_CHECKS`); a bad
one refuses that start with a one-line message in the UI and the log.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from flask import Response, jsonify, request
from locust import events
from locust.env import Environment

from loadkit.users.args import WEB_CHECKS

__all__ = ["bad_web_value"]

logger = logging.getLogger(__name__)


def bad_web_value(form: dict[str, str]) -> str | None:
    """The first form value its argument refuses, as one line; None if all are good."""
    for key, value in form.items():
        check = WEB_CHECKS.get(key)
        if check is None:
            continue
        try:
            check(value)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            return f"--{key.replace('_', '-')}: {exc}"
    return None


def _guard_swarm(environment: Environment, **_kwargs: Any) -> None:
    app = environment.web_ui.app if environment.web_ui is not None else None
    if app is None:
        return

    @app.before_request
    def check_swarm() -> Response | None:
        if request.method != "POST" or request.path != "/swarm":
            return None
        problem = bad_web_value(dict(request.form.items()))
        if problem is None:
            return None
        logger.error("refused to start: %s", problem)
        return jsonify({"success": False, "message": problem, "host": environment.host})


events.init.add_listener(_guard_swarm)
