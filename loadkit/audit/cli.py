"""``loadkit audit RUN_DIR``: (re)run the loss audit of a run against a service still up.

    loadkit audit reports/20261130-170501-jobs                 # the run's host
    loadkit audit reports/20261130-170501-jobs --host http://127.0.0.1:8080 --deadline 1m

Writes ``audit.jsonl`` and ``audit.json`` into the run dir (then ``loadkit
report RUN_DIR`` shows them). Exit 0 when every accepted item reached its end
state, 1 when one was lost, 3 when the service could not be reached.
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

__all__ = ["audit_run", "print_result", "register"]


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
        print(
            f"audit: {kind}: {c['accepted']} accepted, {c['reached']} reached the end state, "
            f"{c['lost']} lost, {c['late']} late, {c['unknown']} unknown"
        )


def audit_run(run_dir: Path, host: str, settings: AuditSettings) -> AuditResult:
    result = run_audit(run_dir, host, settings)
    print_result(result)
    return result


def _command(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise RunDirError("is not a directory", source=str(run_dir), fix="pass reports/<run-id>")
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    host = args.host or meta.get("host")
    if not isinstance(host, str) or not host:
        raise RunDirError(
            "has no host in run.json", source=str(run_dir), fix="give --host http://HOST:PORT"
        )
    result = audit_run(run_dir, host.rstrip("/"), _settings(meta, args))
    if result.status != "done":
        return EXIT_RUN_FAILED
    lost = sum(int(c.get("lost") or 0) for c in result.kinds.values())
    return EXIT_CHECKS_FAILED if lost else EXIT_OK
