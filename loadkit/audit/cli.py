"""``loadkit audit RUN_DIR``: (re)run the loss audit of a run against a service still up.

    loadkit audit reports/20261130-170501-jobs                 # the run's host
    loadkit audit reports/20261130-170501-jobs --host http://127.0.0.1:8080 --deadline 1m

Each item is asked about through the profile it was made with (recorded in
``accepted.jsonl``); ``--profile`` asks through another one (a shipped name,
a profile file, or scenario.yaml#service).

Writes ``audit.jsonl`` and ``audit.json`` into the run dir (then ``loadkit
report RUN_DIR`` shows them). Exit 0 when every accepted item reached its end
state, 1 when one was lost, 3 when the service could not be reached or some
items could not be asked about (not audited, unknown).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from loadkit.audit.audit import AuditResult, run_audit
from loadkit.audit.settings import AuditSettings, parse_audit_settings
from loadkit.errors import (
    EXIT_CHECKS_FAILED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    ConfigError,
    RunDirError,
)
from loadkit.rundir.layout import RUN_JSON

__all__ = ["audit_run", "exit_code", "print_result", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="rerun the loss audit of a run against a service that is still up",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--host", help="the service's base URL (default: the run's host)")
    parser.add_argument("--deadline", help="how long to wait for items, e.g. 30s")
    parser.add_argument("--late-after", help="an item slower than this is late, e.g. 10s")
    parser.add_argument(
        "--profile", help="ask through this service profile instead of the recorded one"
    )
    parser.set_defaults(func=_command)


def _settings(run_meta: dict[str, Any], args: argparse.Namespace) -> AuditSettings:
    settings = AuditSettings()
    scenario = run_meta.get("scenario_file")
    if isinstance(scenario, str) and Path(scenario).is_file():
        try:
            from loadkit.scenario.load import load_scenario

            settings = load_scenario(scenario).audit
        except ConfigError:
            pass  # the flags and defaults still apply
    raw = {k: v for k, v in (("deadline", args.deadline), ("late_after", args.late_after)) if v}
    if raw:
        given = parse_audit_settings(raw)
        settings = AuditSettings(
            deadline_s=given.deadline_s if args.deadline else settings.deadline_s,
            late_after_s=given.late_after_s if args.late_after else settings.late_after_s,
            every_s=settings.every_s,
        )
    return settings


def print_result(result: AuditResult) -> None:
    if result.status != "done":
        print(f"audit: not audited: {result.reason}")
        return
    if not result.kinds:
        print("audit: no accepted work recorded (accepted.jsonl is empty or missing)")
    for kind, c in result.kinds.items():
        if c.get("status") == "not audited":
            print(f"audit: {kind}: {c['accepted']} accepted, not audited: {c.get('reason')}")
            continue
        twice = "" if c.get("applied_twice") is None else f", {c['applied_twice']} applied twice"
        print(
            f"audit: {kind}: {c['accepted']} accepted, {c['reached']} reached the end state, "
            f"{c['lost']} lost, {c['late']} late, {c['unknown']} unknown{twice}"
        )
        if c.get("status") == "partly audited":
            print(f"audit: {kind}: partly audited: {c.get('reason')}")


def audit_run(
    run_dir: Path, host: str, settings: AuditSettings, profile: str | None = None
) -> AuditResult:
    result = run_audit(run_dir, host, settings, profile=profile)
    print_result(result)
    return result


def exit_code(result: AuditResult) -> int:
    """1 when an item was lost; 3 when the audit could not tell about every item; else 0."""
    if result.status != "done":
        return EXIT_RUN_FAILED
    counts = list(result.kinds.values())
    if any(c.get("lost") for c in counts):
        return EXIT_CHECKS_FAILED
    if any(c.get("status", "done") != "done" or c.get("unknown") for c in counts):
        return EXIT_RUN_FAILED
    return EXIT_OK


def _command(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise RunDirError("is not a directory", source=str(run_dir), fix="pass reports/<run-id>")
    try:
        meta = json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    host = args.host or meta.get("host")
    if not isinstance(host, str) or not host:
        raise RunDirError(
            f"has no host in {RUN_JSON}", source=str(run_dir), fix="give --host http://HOST:PORT"
        )
    profile = args.profile
    if profile:
        from loadkit.users.profile.loader import load_profile

        load_profile(profile)  # a bad reference: exit 2 with file:line, before any request
    result = audit_run(run_dir, host.rstrip("/"), _settings(meta, args), profile)
    return exit_code(result)
