"""The run-dir names in loadkit.rundir.layout are the ones docs/run-dir.md promises."""

from __future__ import annotations

import json
import re
from pathlib import Path

from loadkit.rundir import layout
from loadkit.rundir.events import EventLog, read_events
from loadkit.rundir.layout import EventType, strip_userinfo

DOC = (Path(__file__).parents[2] / "docs" / "run-dir.md").read_text(encoding="utf-8")


def _table_first_column(heading: str) -> set[str]:
    """The backquoted names in the first column of the table under ``heading``."""
    section = DOC.split(heading, 1)[1]
    names: set[str] = set()
    in_table = False
    for line in section.splitlines()[1:]:
        if not line.startswith("|"):
            if in_table:
                break  # the end of the first table
            continue
        in_table = True
        if line.startswith("| `"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_documented_modules_exist() -> None:
    modules = _table_first_column("`loadkit.rundir` owns this contract")
    root = Path(layout.__file__).parents[1]
    assert len(modules) >= 8
    assert [m for m in sorted(modules) if not (root / m).is_file()] == []


def test_every_documented_file_has_a_constant() -> None:
    documented = _table_first_column("# The run directory (contract)")
    constants = {
        layout.RUN_JSON,
        layout.LATENCY_HLOG,
        layout.EVENTS_JSONL,
        layout.RESOURCES_CSV,
        layout.FAULTS_JOURNAL,
        layout.PROBES_JSONL,
        layout.ACCEPTED_JSONL,
        layout.AUDIT_JSONL,
        layout.AUDIT_JSON,
        layout.SUMMARY_JSON,
        layout.REPORT_HTML,
        layout.JUNIT_XML,
        layout.FAILURES_JSON,
    }
    assert documented == constants


def test_event_types_are_the_documented_ones() -> None:
    assert _table_first_column("## events.jsonl") == {member.value for member in EventType}


def test_resource_columns_are_the_documented_header() -> None:
    header = re.search(r"Header `([^`]+)`", DOC)
    assert header is not None
    assert tuple(header.group(1).split(",")) == layout.RESOURCE_COLUMNS


def test_event_type_is_written_as_its_plain_name(tmp_path: Path) -> None:
    log = EventLog(tmp_path / layout.EVENTS_JSONL)
    log.append(EventType.FAULT_INJECT, {"name": "slow"}, t=1.0)
    log.close()
    line = (tmp_path / layout.EVENTS_JSONL).read_text(encoding="utf-8")
    assert json.loads(line)["type"] == "fault_inject"
    assert '"type":"fault_inject"' in line
    (event,) = read_events(tmp_path / layout.EVENTS_JSONL)
    assert event["type"] == EventType.FAULT_INJECT


def test_strip_userinfo() -> None:
    assert strip_userinfo("http://u:p@127.0.0.1:8080/x?y=1") == "http://127.0.0.1:8080/x?y=1"
    assert strip_userinfo("http://token@[::1]:80/") == "http://[::1]:80/"
    assert strip_userinfo("http://127.0.0.1:1") == "http://127.0.0.1:1"
    assert strip_userinfo(None) is None
