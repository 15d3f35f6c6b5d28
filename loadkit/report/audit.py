"""The loss audit in the report: audit checks and the Audit section (from ``audit.json``).

``lost(jobs) == 0`` fails "not audited" (with the reason) when there is no
audit, it could not reach the service, or it could not tell about some items;
it fails "nothing accepted" when no item of that kind was recorded, and "not
audited" with the reason when the service could not be asked about that kind
(its profile has no way to read it back). It never reads a missing audit as "0 lost".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadkit.report.servicechecks import ServiceCheck
from loadkit.report.verdicts import Verdict

__all__ = ["audit_section", "evaluate_audit_check", "read_audit_summary"]

# counts of the items asked about (not the subscribers' missed / out-of-order versions)
ITEM_COUNTS = ("reached", "lost", "late", "applied_twice")


def read_audit_summary(run_dir: Path) -> dict[str, Any] | None:
    from loadkit.audit.audit import read_audit

    return read_audit(run_dir)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def evaluate_audit_check(check: ServiceCheck, audit: dict[str, Any] | None, source: str) -> Verdict:
    def fail(text: str, note: str) -> Verdict:
        return Verdict(check.expression, False, None, text, check.limit_text, note, source)

    if audit is None:
        return fail(
            "not audited",
            "no readable audit.json: run 'loadkit audit RUN_DIR' while the service is up",
        )
    if audit.get("status") != "done":
        return fail("not audited", str(audit.get("reason") or "the audit did not finish"))
    kinds = audit.get("kinds")
    counts = kinds.get(check.kind) if isinstance(kinds, dict) else None
    accepted = _count(counts.get("accepted")) if isinstance(counts, dict) else None
    if not isinstance(counts, dict) or accepted is None:
        return fail("nothing accepted", f"no {check.kind} were recorded as accepted")
    if counts.get("status") == "not audited" and check.count in ITEM_COUNTS:
        return fail("not audited", str(counts.get("reason") or f"{check.kind} were not audited"))
    if check.count != "accepted" and accepted == 0:
        return fail("nothing accepted", f"no {check.kind} were recorded as accepted")
    unknown = _count(counts.get("unknown")) or 0
    if unknown and check.count in ITEM_COUNTS:
        return fail(
            "not audited", f"{unknown} of the {check.kind} could not be audited (audit.jsonl)"
        )
    value = _count(counts.get(str(check.count)))
    if value is None:
        return fail("not measured", f"the service does not expose {check.count} for {check.kind}")
    if check.share:
        share = value / accepted
        text = f"{share * 100:.2f}% ({value} of {accepted})"
        return Verdict(
            check.expression, check.holds(share), share, text, check.limit_text, "", source
        )
    note = f"of {accepted} accepted" if check.count != "accepted" else ""
    return Verdict(
        check.expression,
        check.holds(float(value)),
        float(value),
        str(value),
        check.limit_text,
        note,
        source,
    )


def audit_section(audit: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the report's Audit section shows: status, reason and the counts per kind."""
    if audit is None:
        return None
    kinds = audit.get("kinds") if isinstance(audit.get("kinds"), dict) else {}
    keys = ("accepted", "reached", "lost", "late", "unknown", "applied_twice", "missed",
            "out_of_order", "status", "reason")  # fmt: skip
    rows = [
        {"kind": str(kind), **{k: counts.get(k) for k in keys}}
        for kind, counts in (kinds or {}).items()
        if isinstance(counts, dict)
    ]
    return {"status": audit.get("status"), "reason": audit.get("reason"), "kinds": rows}
