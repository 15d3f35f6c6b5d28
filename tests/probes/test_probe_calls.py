"""Probes that make a call of the service profile (``call:`` instead of ``get:``): checked
against the profile before anything runs, and sampled with the profile's method, path,
body and headers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loadkit.errors import ConfigError
from loadkit.probes.model import parse_probes
from loadkit.probes.sampler import sample_once
from loadkit.users.profile.loader import load_profile

LOADKIT = [sys.executable, "-m", "loadkit"]
SCENARIO = """\
name: probe-calls
target: http://127.0.0.1:9
service: camel-gateway
users: {WorkspaceUser: 1}
stages: [{duration: 5s, users: 1}]
probes:
  - name: gw
    get: /health
    fields: {state: status}
  - name: hook
    call: health
    every: 250ms
    fields: {state: circuitBreakers.stopHook}
checks:
  - probe(hook.state) == "closed"
"""


def loadkit(tmp_path: Path, command: str, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    args = [*LOADKIT, command, str(path)]
    if command == "run":
        args += ["--out", str(tmp_path / "reports")]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_a_probe_call_of_the_profile_validates(tmp_path):
    proc = loadkit(tmp_path, "validate", SCENARIO)
    assert proc.returncode == 0, proc.stderr
    assert "2 probe(s)" in proc.stdout


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("call: health", "call: helth", 11, "probes[1].call: the service profile camel-gateway "
         "has no call 'helth'; did you mean 'health'?"),
        ("service: camel-gateway", "service: builtin", 11, "probes[1].call: the service profile "
         "builtin has no call 'health'"),
        ("call: health", "call: 'no such'", 11, "probes[1].call: 'no such' is not a call name"),
        ("    call: health", "    call: health\n    get: /x", 11, "is given with 'get'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_unknown_or_bad_call_exits_2_with_file_and_line(
    tmp_path, command, old, new, line, expected
):
    assert old in SCENARIO
    proc = loadkit(tmp_path, command, SCENARIO.replace(old, new, 1))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"scenario.yaml:{line}:" in lines[0] and expected in lines[0], lines[0]
    assert not (tmp_path / "reports").exists()  # nothing was started


def test_the_grammar_of_a_call_probe():
    (probe,) = parse_probes([{"name": "h", "call": "health", "fields": {"s": "status"}}])
    assert (probe.call, probe.get, probe.relative) == ("health", "", True)
    with pytest.raises(ConfigError, match=r"probes\[0\]\.get: is missing"):
        parse_probes([{"name": "h", "fields": {"s": "status"}}])


def test_a_call_probe_samples_the_real_target_through_the_yaml_profile(shared_target):
    calls = load_profile("builtin-yaml").calls
    probe = parse_probes(
        [{"name": "gw", "call": "health", "fields": {"depth": "queue_depth", "s": "status"}}]
    )[0]
    with httpx.Client() as client:
        record = sample_once(probe, client, shared_target.url, calls)
        assert record["ok"] is True and record["status"] == 200, record
        assert isinstance(record["values"]["depth"], int) and record["values"]["s"], record
        missing = parse_probes([{"name": "x", "call": "gone", "fields": {"a": "a"}}])[0]
        record = sample_once(missing, client, shared_target.url, calls)
        assert record["ok"] is False and "no call 'gone'" in record["error"], record
