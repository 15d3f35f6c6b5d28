"""The loss audit: after the load, ask the service what became of every accepted item.

:func:`run_audit` reads ``accepted.jsonl``, looks at every item through its
kind's auditor (:mod:`loadkit.audit.builtin`), looks again at the ones still
on their way every ``every_s`` until all reached an end or ``deadline_s``
passed, and writes:

- ``audit.jsonl``: one line per item: ``kind``, ``id``, ``result``
  (``reached`` | ``lost`` | ``unknown``), ``late``, ``state``, ``accepted_at``,
  ``ended_at``, ``took_s``, ``reason``;
- ``audit.json``: ``{schema, status, reason, host, audited_at, settings,
  kinds: {KIND: {status, reason, accepted, reached, lost, late, applied_twice,
  unknown, missed, out_of_order}}}``.

Each item is asked about through the API that made it (:mod:`loadkit.audit.profile`:
the built-in target's, or the YAML profile's ``audit:`` call). A kind of which
no item could be asked (the profile has no way to read it back) is ``not
audited`` with the reason and no counts; ``partly audited`` when some could not.

``lost`` is gone (the service does not know it) or not at its end state by
the deadline. ``late`` reached its end, but more than ``late_after_s`` after
it was accepted (by the service's own time when it says, else by when the
audit saw it get there; an item already at its end at the first look is never
late by the audit's clock). ``unknown``: the service did not answer about it.
``applied_twice``: items the service says it applied (ran, wrote) more than
once; ``null`` where the service does not expose it.
Subscribers report what they saw as ``sync-subscriber`` items
(``missed``, ``out_of_order``: versions a subscriber never got, or got after a
later one); their sums are the ``sync`` kind's ``missed`` and
``out_of_order``, ``null`` when no subscriber reported.

``status`` is ``done``, or ``not audited`` with the ``reason`` (the service
could not be reached at all, the run was interrupted...): then there are no
counts, and checks on them fail rather than read "0 lost".
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loadkit.audit.builtin import KindAuditor, Look
from loadkit.audit.profile import Auditors
from loadkit.audit.record import read_accepted
from loadkit.audit.settings import AuditSettings
from loadkit.rundir.layout import AUDIT_JSON, AUDIT_JSONL, write_json_atomic

__all__ = [
    "AUDIT_FILE",
    "AUDIT_ITEMS_FILE",
    "AuditResult",
    "not_audited",
    "read_audit",
    "run_audit",
]

AUDIT_FILE = AUDIT_JSON
AUDIT_ITEMS_FILE = AUDIT_JSONL
SCHEMA = 1
SUBSCRIBER_KIND = "sync-subscriber"
REQUEST_TIMEOUT_S = 5.0


@dataclass
class _Item:
    record: dict[str, Any]
    auditor: KindAuditor | None
    why_not: str | None = None  # no auditor: why the service cannot be asked about it
    look: Look | None = None
    first_status: str | None = None
    seen_end_at: float | None = None

    @property
    def kind(self) -> str:
        return str(self.record["kind"])


@dataclass
class AuditResult:
    status: str  # "done" | "not audited"
    reason: str | None
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self, host: str | None, settings: AuditSettings) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "status": self.status,
            "reason": self.reason,
            "host": host,
            "audited_at": time.time(),
            "settings": settings.to_dict(),
            "kinds": self.kinds,
        }


def _item(record: dict[str, Any], auditors: Auditors) -> _Item:
    auditor = auditors.auditor(record)
    if isinstance(auditor, str):
        return _Item(record, None, auditor)
    return _Item(record, auditor)


def not_audited(run_dir: Path, reason: str, host: str | None = None) -> AuditResult:
    """Write an ``audit.json`` that says why there is no audit (checks then fail)."""
    result = AuditResult("not audited", reason)
    (run_dir / AUDIT_ITEMS_FILE).unlink(missing_ok=True)  # no per-item results of an old audit
    write_json_atomic(run_dir / AUDIT_FILE, result.to_json(host, AuditSettings()))
    return result


def _look_round(client: httpx.Client, items: list[_Item], deadline: float) -> list[_Item]:
    """Look at each item once (until the deadline); returns those still on their way."""
    pending: list[_Item] = []
    for item in items:
        if time.monotonic() >= deadline:
            pending.append(item)
            continue
        assert item.auditor is not None
        look = item.auditor.look(client, item.record)
        item.look = look
        if item.first_status is None:
            item.first_status = look.status
        if look.status == "end":
            item.seen_end_at = time.time()
        if look.status in ("pending", "unreachable"):
            pending.append(item)
    return pending


def _outcome(item: _Item, settings: AuditSettings) -> dict[str, Any]:
    look = item.look
    accepted_at = float(item.record["t"])
    row: dict[str, Any] = {"kind": item.kind, "id": item.record["id"], "accepted_at": accepted_at}
    if item.auditor is None:
        return {**row, "result": "unknown", "late": False, "asked": False, "reason": item.why_not}
    if look is None or look.status == "unreachable":
        reason = look.detail if look is not None else "not looked at before the deadline"
        return {**row, "result": "unknown", "late": False, "reason": reason}
    row["state"] = look.state
    if look.applied is not None:
        row["applied"] = look.applied
    if look.status == "gone":
        return {**row, "result": "lost", "late": False, "reason": look.detail or "gone"}
    if look.status == "pending":
        reason = f"still {look.state} after the audit deadline ({settings.deadline_s:g}s)"
        return {**row, "result": "lost", "late": False, "reason": reason}
    ended_at = look.ended_at
    if ended_at is None and item.first_status != "end":
        ended_at = item.seen_end_at  # it got there during the audit: the audit's clock
    took = None if ended_at is None else max(0.0, ended_at - accepted_at)
    late = took is not None and took > settings.late_after_s
    row.update(result="reached", late=late, ended_at=ended_at, took_s=took, reason=None)
    return row


def _subscriber_counts(subscribers: list[dict[str, Any]], counts: dict[str, Any]) -> None:
    if not subscribers:
        return
    counts["subscribers"] = len(subscribers)
    for key in ("missed", "out_of_order"):
        values = [s.get(key) for s in subscribers]
        valid = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
        counts[key] = sum(valid) if len(valid) == len(values) else None


def _kind_status(counts: dict[str, Any], not_asked: list[str]) -> None:
    """``status``/``reason`` of a kind: items the service could not be asked about are no count.

    A kind of which no item could be asked is ``not audited`` and has no counts
    (never "0 lost"); one of which some could not is ``partly audited``.
    """
    counts["status"], counts["reason"] = "done", None
    if not not_asked:
        return
    if len(not_asked) == counts["accepted"]:
        counts["status"], counts["reason"] = "not audited", not_asked[0]
        for key in ("reached", "lost", "late", "applied_twice"):
            counts[key] = None
        return
    counts["status"] = "partly audited"
    counts["reason"] = f"{len(not_asked)} of {counts['accepted']} not asked: {not_asked[0]}"


def _counts(rows: list[dict[str, Any]], subscribers: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {}
    not_asked: dict[str, list[str]] = {}
    for row in rows:
        counts = kinds.setdefault(
            row["kind"],
            {
                "accepted": 0,
                "reached": 0,
                "lost": 0,
                "late": 0,
                "unknown": 0,
                "applied_twice": None,
                "missed": None,
                "out_of_order": None,
            },
        )
        counts["accepted"] += 1
        counts[row["result"]] += 1
        counts["late"] += int(bool(row.get("late")))
        if "applied" in row:
            counts["applied_twice"] = (counts["applied_twice"] or 0) + int(row["applied"] > 1)
        if row.get("asked") is False:
            not_asked.setdefault(row["kind"], []).append(str(row.get("reason")))
    for kind, counts in kinds.items():
        _kind_status(counts, not_asked.get(kind, []))
    if subscribers:
        sync = kinds.setdefault(
            "sync",
            {"accepted": 0, "reached": 0, "lost": 0, "late": 0, "unknown": 0, "status": "done"},
        )
        _subscriber_counts(subscribers, sync)
    return kinds


def run_audit(
    run_dir: Path,
    base_url: str,
    settings: AuditSettings | None = None,
    auditors: Mapping[str, KindAuditor] | None = None,
    profile: str | None = None,
) -> AuditResult:
    """Audit ``run_dir``'s accepted items against the service at ``base_url``; writes the files.

    ``auditors`` replaces the built-in target's; ``profile`` (a profile
    reference) replaces the one each item was recorded with.
    """
    settings = settings or AuditSettings()
    chooser = Auditors(auditors, profile)
    records = read_accepted(run_dir)
    subscribers = [r for r in records if r["kind"] == SUBSCRIBER_KIND]
    records = [r for r in records if r["kind"] != SUBSCRIBER_KIND]
    items = [_item(record, chooser) for record in records]
    deadline = time.monotonic() + settings.deadline_s
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client:
        pending = [item for item in items if item.auditor is not None]
        first = True
        while pending:
            pending = _look_round(client, pending, deadline)
            looked = [item for item in items if item.look is not None]
            if first and looked and all(i.look and i.look.status == "unreachable" for i in looked):
                detail = looked[0].look.detail if looked[0].look else ""
                return not_audited(run_dir, f"cannot reach {base_url}: {detail}", base_url)
            first = False
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(min(settings.every_s, max(0.0, deadline - time.monotonic())))
    rows = [_outcome(item, settings) for item in items]
    tmp = run_dir / f".{AUDIT_ITEMS_FILE}.tmp"
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(run_dir / AUDIT_ITEMS_FILE)
    result = AuditResult("done", None, _counts(rows, subscribers))
    write_json_atomic(run_dir / AUDIT_FILE, result.to_json(base_url, settings))
    return result


def read_audit(run_dir: Path) -> dict[str, Any] | None:
    """``audit.json`` of a run, or None when it is missing or unreadable."""
    try:
        data = json.loads((run_dir / AUDIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deep
        return None
    return data if isinstance(data, dict) else None
