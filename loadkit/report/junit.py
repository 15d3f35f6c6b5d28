"""JUnit XML: one test case per check (and one per baseline regression gate), for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from loadkit.errors import LoadkitError
from loadkit.report.checks import parse_check
from loadkit.report.failures import top_messages
from loadkit.report.report import Report
from loadkit.rundir.layout import JUNIT_XML

__all__ = ["junit_xml", "write_junit"]

_FAILURE_METRICS = frozenset({"error_rate", "failures"})


def _quoted_failures(report: Report, expression: str) -> str:
    """The top failure messages, for a failed error-rate / failures check ("" otherwise)."""
    if not report.failures:
        return ""
    try:
        check = parse_check(expression)
    except LoadkitError:
        return ""
    if check.metric not in _FAILURE_METRICS:
        return ""
    document = report.failures
    if check.argument:  # one endpoint: "GET /x" or "/x"
        rows = [
            row
            for row in document["failures"]
            if check.argument in (row["name"], f"{row['type']} {row['name']}")
        ]
        document = {**document, "failures": rows}
    lines = top_messages(document)
    return "\ntop failure messages:\n" + "\n".join(lines) if lines else ""


def junit_xml(report: Report) -> str:
    analysis = report.analysis
    suite_name = f"loadkit.{analysis.run.name}"
    cases: list[ET.Element] = []
    for verdict in report.verdicts:
        case = ET.Element("testcase", name=verdict.expression, classname=f"{suite_name}.checks")
        case.set("time", "0")
        if verdict.skipped:
            ET.SubElement(case, "skipped", message=verdict.note or "nothing to measure")
        elif not verdict.passed:
            message = f"{verdict.value_text} (limit {verdict.limit_text})"
            if verdict.note:
                message += f": {verdict.note}"
            failure = ET.SubElement(case, "failure", message=message, type="CheckFailed")
            failure.text = (
                f"{verdict.expression}\nmeasured: {verdict.value_text}\n"
                + (f"limit: {verdict.limit_text}\n{verdict.note}".rstrip())
                + _quoted_failures(report, verdict.expression)
            )
        cases.append(case)
    if report.baseline is not None:
        case = ET.Element(
            "testcase",
            name=f"baseline {report.baseline.name}",
            classname=f"{suite_name}.baseline",
            time="0",
        )
        regressions = report.baseline.regressions
        if regressions:
            lines = [
                f"{d.endpoint} {d.metric}: {d.baseline:.4g} -> {d.current:.4g} ({d.change})"
                for d in regressions
                if d.baseline is not None and d.current is not None
            ]
            failure = ET.SubElement(
                case,
                "failure",
                type="Regression",
                message=f"{len(regressions)} regression(s): " + "; ".join(lines),
            )
            failure.text = "\n".join(lines)
        cases.append(case)
    failures = sum(1 for case in cases if case.find("failure") is not None)
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{analysis.run.end_s:.3f}",
    )
    suite.extend(cases)
    suites = ET.Element(
        "testsuites", name="loadkit", tests=str(len(cases)), failures=str(failures), errors="0"
    )
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def write_junit(report: Report, out: Path) -> Path:
    path = out / JUNIT_XML
    path.write_text(junit_xml(report) + "\n", encoding="utf-8")
    return path
