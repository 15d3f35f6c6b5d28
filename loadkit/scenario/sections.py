"""The scenario sections that look at the service itself: ``probes:``, ``audit:``,
``target_options:``, and the checks on probes and the audit.

Each section's grammar belongs to its part (:mod:`loadkit.probes.model`,
:mod:`loadkit.audit.settings`, :mod:`loadkit.scenario.target_options`,
:mod:`loadkit.report.servicechecks`); this module runs them on a
:class:`~loadkit.scenario.yamldoc.YamlDoc`, so every error names the file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from loadkit.audit.settings import AuditSettings, parse_audit_settings
from loadkit.errors import ConfigError, did_you_mean
from loadkit.probes.model import ProbeSpec, parse_probes
from loadkit.scenario.model import Scenario
from loadkit.scenario.target_options import parse_target_options
from loadkit.scenario.yamldoc import YamlDoc

__all__ = ["ServiceSections", "check_service_checks", "service_sections"]

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceSections:
    probes: tuple[ProbeSpec, ...]
    audit: AuditSettings
    target_options: dict[str, int | float | bool]


def _section(doc: YamlDoc, section: str, parse: Callable[[Any], T], raw: Any) -> T:
    """Run a part's validator on a section; its ConfigError gets this file's line."""
    try:
        return parse(raw)
    except ConfigError as exc:
        raise doc.relocate(exc, section) from None


def service_sections(doc: YamlDoc, data: dict[str, Any], target: str) -> ServiceSections:
    """Validate ``probes:``, ``audit:`` and ``target_options:`` of a scenario's data."""
    probes = _section(doc, "probes", parse_probes, data.get("probes"))
    options = _section(doc, "target_options", parse_target_options, data.get("target_options"))
    if options and target != "builtin":
        raise doc.error(
            ("target_options",),
            "only the built-in target takes options",
            "set 'target: builtin' or drop 'target_options'",
        )
    for index, probe in enumerate(probes):
        if probe.target is not None and target != "builtin":
            raise doc.error(
                ("probes", index, "target"),
                f"'{probe.target}' is a process of the built-in target",
                "drop 'target' and give the URL in 'get'",
            )
    audit = _section(doc, "audit", parse_audit_settings, data.get("audit"))
    return ServiceSections(probes, audit, options)


def _check_probe_calls(doc: YamlDoc, scenario: Scenario) -> None:
    """A probe's ``call`` is one of the ``calls:`` of the scenario's service profile."""
    from loadkit.users.profile.loader import BUILTIN, load_profile

    reference = str(scenario.options.get("user-profile") or BUILTIN)
    for index, probe in enumerate(scenario.probes):
        if probe.call is None:
            continue
        calls = load_profile(reference).calls  # already loaded (and checked) by service:
        if probe.call not in calls:
            fix = did_you_mean(probe.call, calls) if calls else ""
            raise doc.error(
                ("probes", index, "call"),
                f"the service profile {reference} has no call {probe.call!r}",
                fix or "add it to the profile's 'calls:', or use 'get: /path'",
            )


def check_service_checks(doc: YamlDoc, scenario: Scenario) -> None:
    """Probe and audit checks name probes, fields, faults and stages of this scenario;
    probe calls name calls of its profile."""
    from loadkit.report.servicechecks import parse_service_check, validate_service_check

    _check_probe_calls(doc, scenario)

    probes = {p.name: tuple(p.fields) for p in scenario.probes}
    faults = [fault.name for fault in scenario.faults]
    stages = {str(s.index) for s in scenario.plan} | {s.name for s in scenario.plan if s.name}
    for index, expression in enumerate(scenario.checks):
        check = parse_service_check(expression)
        if check is None:
            continue
        try:
            validate_service_check(check, probes, faults, stages)
        except ConfigError as exc:
            raise doc.error(("checks", index), exc.problem, exc.fix) from None
