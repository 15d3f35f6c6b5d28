"""The audit's reading of accepted.jsonl against a real target: merged records, work made
through another service's API (never guessed at), subscribers' missed events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from loadkit.audit.audit import run_audit
from loadkit.audit.record import read_accepted
from loadkit.audit.settings import AuditSettings
from loadkit.report.audit import evaluate_audit_check
from loadkit.report.servicechecks import parse_service_check

FAST = AuditSettings(deadline_s=5.0, late_after_s=10.0, every_s=0.1)


def write(run_dir: Path, *records: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"t": time.time(), **r}) for r in records]
    (run_dir / "accepted.jsonl").write_text("\n".join(lines) + "\n{torn")


def verdict(run_dir: Path, expression: str):
    check = parse_service_check(expression)
    assert check is not None
    audit = json.loads((run_dir / "audit.json").read_text())
    return evaluate_audit_check(check, audit, "scenario")


def test_later_records_add_to_an_item_and_a_torn_line_is_skipped(tmp_path):
    write(
        tmp_path,
        {"kind": "sessions", "id": "s1"},
        {"kind": "sessions", "id": "s1", "closed": True},
        {"kind": "sync", "id": "t1", "repo": "r", "version": 1},
        {"kind": "sync", "id": "t1", "repo": "r", "version": 3},
    )
    items = {(i["kind"], i["id"]): i for i in read_accepted(tmp_path)}
    assert items[("sessions", "s1")]["closed"] is True
    assert items[("sync", "t1")]["version"] == 3 and len(items) == 2


def test_work_made_through_another_api_is_not_audited_never_lost(tmp_path, shared_target):
    job = httpx.post(
        f"{shared_target.url}/execute", json={"workspace": "audit-a", "command": "echo hi"}
    ).json()["request_id"]
    write(
        tmp_path,
        {"kind": "jobs", "id": job, "api": "builtin"},
        {"kind": "jobs", "id": "someone-elses-id", "api": "YamlJobs"},
    )
    result = run_audit(tmp_path, shared_target.url, FAST)
    jobs = result.kinds["jobs"]
    assert (jobs["accepted"], jobs["reached"], jobs["lost"], jobs["unknown"]) == (2, 1, 0, 1)
    rows = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    other = next(r for r in rows if r["id"] == "someone-elses-id")
    assert other["result"] == "unknown" and "YamlJobs" in other["reason"]
    lost = verdict(tmp_path, "lost(jobs) == 0")
    assert lost.passed is False and lost.value_text == "not audited"


def test_subscribers_missed_events_add_up_and_fail_the_check(tmp_path, shared_target):
    task = httpx.post(f"{shared_target.url}/repos/audit-r/tasks", json={"title": "x"}).json()
    write(
        tmp_path,
        {"kind": "sync", "id": task["task_id"], "repo": "audit-r", "version": task["version"]},
        {"kind": "sync-subscriber", "id": "c1", "missed": 0, "out_of_order": 0},
        {"kind": "sync-subscriber", "id": "c2", "missed": 2, "out_of_order": 1},
    )
    sync = run_audit(tmp_path, shared_target.url, FAST).kinds["sync"]
    assert (sync["accepted"], sync["reached"], sync["subscribers"]) == (1, 1, 2)
    assert (sync["missed"], sync["out_of_order"]) == (2, 1)
    assert verdict(tmp_path, "lost(sync) == 0").passed is True
    missed = verdict(tmp_path, "missed(sync) == 0")
    assert missed.passed is False and missed.value == 2
    assert verdict(tmp_path, "late(sync) < 1%").passed is True


def test_no_accepted_work_is_not_zero_lost(tmp_path, shared_target):
    write(tmp_path)
    run_audit(tmp_path, shared_target.url, FAST)
    lost = verdict(tmp_path, "lost(jobs) == 0")
    assert lost.passed is False and lost.value_text == "nothing accepted"
    missed = verdict(tmp_path, "missed(sync) == 0")
    assert missed.passed is False
