"""The probes: grammar, the check grammar on probes and the audit, and `loadkit validate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loadkit.errors import CheckError, ConfigError
from loadkit.probes.model import parse_probes
from loadkit.probes.sampler import sample_once
from loadkit.report.servicechecks import parse_service_check

LOADKIT = [sys.executable, "-m", "loadkit"]
GOOD = """\
name: probes-ok
users: {WorkspaceUser: 1}
stages: [{duration: 5s, users: 1}]
target_options: {lease_s: 2, request_timeout_s: 500ms, cold_start_ms: 300ms}
faults:
  - {name: gw-pause, at: 1s, for: 2s, kind: pause, target: gateway}
  - {name: mode, at: 1s, kind: request, method: POST, url: /admin/faults, json: {latency_ms: 1}}
  - {name: fill, at: 1s, for: 1s, kind: exec, command: [touch, /tmp/x], revert: [rm, -f, /tmp/x]}
probes:
  - name: breaker
    get: /health
    target: agent
    every: 250ms
    fields: {state: circuit_breakers.gateway_callback, opened: breaker_opened}
checks:
  - probe(breaker.state) == "open" during fault:gw-pause
  - probe(breaker.state) becomes "closed" within 30s after gw-pause
  - max(probe(breaker.opened)) < 100
  - delta(probe(breaker.opened)) >= 1
  - lost(jobs) == 0
  - late(jobs) < 1%
  - p95(POST /execute) < 1s
"""


def validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return subprocess.run(
        [*LOADKIT, "validate", str(path)], capture_output=True, text=True, timeout=120
    )


def test_validate_accepts_a_scenario_with_probes_audit_checks_and_new_fault_kinds(tmp_path):
    proc = validate(tmp_path, GOOD)
    assert proc.returncode == 0, proc.stderr
    assert "3 fault(s), 1 probe(s), 7 check(s), 3 target option(s)" in proc.stdout


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("opened: breaker_opened}", "opened: 'breaker_opened[='}", 14, "not a valid JMESPath"),
        ("get: /health", "get: 'http//x/health'", 11, "probes[0].get"),
        ("every: 250ms", "every: soon", 13, "probes[0].every"),
        ('probe(breaker.state) == "open"', 'probe(braker.state) == "open"', 16, "unknown probe"),
        ("probe(breaker.state) becomes", "probe(breaker.mood) becomes", 17, "no field 'mood'"),
        ("after gw-pause", "after gw-paws", 17, "unknown fault 'gw-paws'"),
        ("lost(jobs) == 0", "lost(jobs) == 0ms", 20, "not a probe or audit check"),
        ("lease_s: 2,", "lease_sec: 2,", 4, "did you mean 'lease_s'"),
        ("cold_start_ms: 300ms", "cold_start_ms: warm", 4, "target_options.cold_start_ms"),
        ("command: [touch, /tmp/x]", "command: 'touch /tmp/x'", 8, "shell string"),
        ("url: /admin/faults", "url: admin/faults", 7, "not an http(s) URL or a path"),
    ],
)
def test_bad_probes_checks_and_options_exit_2_with_file_and_line(
    tmp_path, old, new, line, expected
):
    assert old in GOOD
    proc = validate(tmp_path, GOOD.replace(old, new, 1))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"scenario.yaml:{line}:" in lines[0] and expected in lines[0], lines[0]


def test_target_options_and_agent_probes_need_the_builtin_target(tmp_path):
    text = GOOD.replace("name: probes-ok", "name: x\ntarget: http://127.0.0.1:9")
    proc = validate(tmp_path, text)
    assert proc.returncode == 2
    assert "target_options: only the built-in target takes options" in proc.stderr


def test_probe_grammar_defaults_and_errors():
    (probe,) = parse_probes([{"name": "q", "get": "/health", "fields": {"depth": "queue_depth"}}])
    assert (probe.every_s, probe.timeout_s, probe.target) == (1.0, 1.0, None)
    assert probe.url("http://127.0.0.1:5/") == "http://127.0.0.1:5/health"
    with pytest.raises(ConfigError, match=r"probes\[1\]\.name.*used twice"):
        parse_probes([{"name": "q", "get": "/a", "fields": {"a": "a"}}] * 2)
    with pytest.raises(ConfigError, match=r"probes\[0\]\.fields\.bad-name"):
        parse_probes([{"name": "q", "get": "/a", "fields": {"bad-name": "a"}}])
    with pytest.raises(ConfigError, match=r"probes\[0\]\.colour: unknown key"):
        parse_probes([{"name": "q", "get": "/a", "fields": {"a": "a"}, "colour": 1}])


def test_check_forms_parse_and_other_checks_are_left_to_the_reporter():
    value = parse_service_check('probe(breaker.state) == "open" during fault:gw-down')
    assert value is not None and (value.limit, value.phase) == ("open", "fault:gw-down")
    becomes = parse_service_check('probe(b.state) becomes "closed" within 30s after fault:gw')
    assert becomes is not None and (becomes.value, becomes.limit, becomes.fault) == (
        "closed",
        30.0,
        "gw",
    )
    late = parse_service_check("late(jobs) < 1%")
    assert late is not None and late.share and late.limit == pytest.approx(0.01)
    assert parse_service_check("max(POST /execute) < 1s") is None
    assert parse_service_check("count(JOB echo) > 3") is None
    with pytest.raises(CheckError, match="needs a number"):
        parse_service_check('probe(q.depth) < "high"')
    with pytest.raises(CheckError, match="not a probe or audit check"):
        parse_service_check('max(probe(q.depth)) < "high"')
    assert parse_service_check("median(probe(q.depth)) < 3") is None  # the reporter's error


def test_a_failed_probe_is_a_sample_with_its_error_not_a_crash():
    probe = parse_probes(
        [{"name": "p", "get": "/health", "timeout": "200ms", "fields": {"a": "a"}}]
    )[0]
    with httpx.Client() as client:
        record = sample_once(probe, client, "http://127.0.0.1:9")  # nothing listens on port 9
        assert record["ok"] is False and record["values"] == {} and record["error"]
        record = sample_once(probe, client, None)
        assert record["ok"] is False and "no base URL" in record["error"]


def test_a_sample_reads_fields_with_jmespath(shared_target):
    probe = parse_probes(
        [
            {
                "name": "gw",
                "get": "/health",
                "fields": {"depth": "queue_depth", "missing": "no.such.field"},
            }
        ]
    )[0]
    with httpx.Client() as client:
        record = sample_once(probe, client, shared_target.url)
    assert record["ok"] is True and record["status"] == 200, record
    assert isinstance(record["values"]["depth"], int) and record["values"]["missing"] is None


def test_loadkit_run_refuses_a_bad_probe_before_anything_starts(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("every: 250ms", "every: 0s"))
    out = tmp_path / "reports"
    proc = subprocess.run(
        [*LOADKIT, "run", str(path), "--out", str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "bad.yaml:13: probes[0].every: '0s' is out of range" in proc.stderr, proc.stderr
    assert "target:" not in proc.stdout and not out.exists()  # nothing was started
