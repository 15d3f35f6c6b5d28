"""The fault model: parsing plans into specs and rejecting bad ones with one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loadkit.errors import EXIT_BAD_INPUT, FaultPlanError
from loadkit.faults.backends.proxy import toxic_attributes
from loadkit.faults.model import FaultSpec, load_fault_file, parse_faults

PLAN = [
    {
        "name": "slow-net",
        "at": "30s",
        "for": "15s",
        "kind": "latency",
        "via": "proxy",
        "latency": "500ms",
        "jitter": "100ms",
    },
    {"name": "gw-pause", "at": "1m", "for": "5s", "kind": "pause", "target": "gateway"},
    {"name": "thin", "at": 0, "kind": "bandwidth", "rate": "100KB", "proxy": "gw"},
    {
        "name": "errors",
        "at": "10s",
        "for": "10s",
        "kind": "app-error",
        "error_rate": "50%",
        "path": "/execute",
        "status": 503,
    },
    {"name": "box", "at": "5s", "for": "5s", "kind": "pause", "container": "web"},
    {
        "name": "hook",
        "at": "1s",
        "kind": "request",
        "method": "put",
        "url": "http://127.0.0.1:1/x",
        "json": {"on": True},
        "revert": {"method": "DELETE", "url": "http://127.0.0.1:1/x"},
    },
]


def test_a_valid_plan_is_normalised():
    specs = parse_faults(PLAN, "s.yaml")
    slow, pause, thin, errors, box, hook = specs
    assert (slow.via, slow.kind, slow.at_s, slow.for_s) == ("proxy", "latency", 30.0, 15.0)
    assert slow.params["latency"] == 0.5 and slow.params["stream"] == "downstream"
    assert toxic_attributes(slow) == {"latency": 500, "jitter": 100}
    assert (pause.via, pause.at_s, pause.target) == ("process", 60.0, "gateway")
    # 100KB = 102,400 bytes/s; Toxiproxy's rate is in KB/s of 1,000 bytes
    assert thin.for_s is None and toxic_attributes(thin) == {"rate": 102}
    assert errors.via == "http" and errors.params["error_rate"] == 0.5
    assert box.via == "docker" and box.target == "container web"
    assert hook.params["method"] == "PUT" and hook.params["revert"]["method"] == "DELETE"
    assert [s.index for s in specs] == list(range(6))


def test_spec_round_trips_through_a_dict():
    for spec in parse_faults(PLAN, "s.yaml"):
        assert FaultSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("item", "field", "fix"),
    [
        (
            {"name": "gw-pause", "at": "60s", "for": "5 sec", "kind": "pause", "target": "gateway"},
            "faults[0] (gw-pause).for",
            "write e.g.",
        ),
        ({"name": "x", "at": "1s", "kind": "explode"}, "faults[0] (x).kind", "use one of"),
        ({"name": "x", "kind": "pause", "target": "gateway"}, "faults[0] (x).at", "say when"),
        ({"name": "x", "at": "1s", "kind": "latency"}, "faults[0] (x).latency", "needs 'latency'"),
        (
            {"name": "x", "at": "1s", "kind": "pause", "target": "gateway", "colour": "red"},
            "faults[0] (x).colour",
            "use only",
        ),
        ({"name": "x", "at": "1s", "kind": "pause"}, "faults[0] (x).target", "exactly one"),
        (
            {"name": "x", "at": "1s", "kind": "pause", "pid": 1, "target": "gateway"},
            "faults[0] (x).target",
            "exactly one",
        ),
        (
            {"name": "x", "at": "1s", "kind": "stop", "via": "process", "pid": 1},
            "faults[0] (x).kind",
            "change 'via'",
        ),
        (
            {"name": "x", "at": "1s", "kind": "restart", "pid": 1},
            "faults[0] (x).command",
            "needs the command",
        ),
        (
            {"name": "x", "at": "1s", "kind": "app-error", "status": 99},
            "faults[0] (x).status",
            "HTTP status",
        ),
        ({"name": "bad name!", "at": "1s", "kind": "pause"}, "faults[0].name", "letters"),
        (
            {"name": "x", "at": "1s", "for": 0, "kind": "pause", "pid": 1},
            "faults[0] (x).for",
            "positive",
        ),
        (
            {"name": "x", "at": "1s", "kind": "disconnect", "container": "c"},
            "faults[0] (x).network",
            "needs 'network'",
        ),
    ],
)
def test_bad_faults_name_the_fault_and_field(item, field, fix):
    with pytest.raises(FaultPlanError) as info:
        parse_faults([item], "scenarios/x.yaml")
    message = str(info.value)
    assert message.startswith(f"scenarios/x.yaml: {field}: "), message
    assert fix in message and "\n" not in message


def test_duplicate_names_and_non_lists_are_rejected():
    item = {"name": "a", "at": "1s", "kind": "pause", "pid": 1}
    with pytest.raises(FaultPlanError, match=r"faults\[1\] \(a\)\.name: is used twice"):
        parse_faults([item, item], "f.yaml")
    with pytest.raises(FaultPlanError, match="is not a list"):
        parse_faults("pause", "f.yaml")
    assert parse_faults(None) == []


def test_load_fault_file_reads_a_scenario(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text("name: s\nusers: {A: 1}\nfaults:\n  - {name: p, at: 1s, kind: pause, pid: 1}\n")
    assert [s.name for s in load_fault_file(path)] == ["p"]
    (tmp_path / "none.yaml").write_text("name: s\n")
    with pytest.raises(FaultPlanError, match="no top-level 'faults:'"):
        load_fault_file(tmp_path / "none.yaml")
    (tmp_path / "broken.yaml").write_text("faults: [\n  {name: p\n")
    with pytest.raises(FaultPlanError, match=r"broken.yaml:\d+: "):
        load_fault_file(tmp_path / "broken.yaml")


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "loadkit", "faults", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_list_and_check(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "faults:\n"
        "  - {name: slow-net, at: 30s, for: 15s, kind: latency, latency: 500ms, proxy: gw}\n"
        "  - {name: gw-pause, at: 60s, for: 5s, kind: pause, target: gateway}\n"
    )
    listed = _cli("list", str(good))
    assert listed.returncode == 0, listed.stderr
    assert "slow-net" in listed.stdout and "latency toxic on proxy gw" in listed.stdout
    assert "SIGSTOP" in listed.stdout
    checked = _cli("check", str(good))
    assert checked.returncode == 0 and "ok, 2 fault(s)" in checked.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "faults:\n  - {name: gw-pause, at: 60s, for: 5 sec, kind: pause, target: gateway}\n"
    )
    failed = _cli("check", str(bad))
    assert failed.returncode == EXIT_BAD_INPUT
    assert "faults[0] (gw-pause).for: '5 sec' is not a duration" in failed.stderr
    assert "Traceback" not in failed.stderr and failed.stderr.count("\n") == 1


def test_a_plan_is_parsed_once_with_the_file_and_line_of_every_fault(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: s\n"
        "faults:\n"
        "  - {name: a, at: 1s, kind: pause, pid: 1}\n"
        "  - name: b\n"
        "    at: 2s\n"
        "    kind: pause\n"
        "    pid: 1\n"
    )
    specs = load_fault_file(plan)
    assert [(s.name, s.where) for s in specs] == [("a", f"{plan}:3"), ("b", f"{plan}:4")]
    assert FaultSpec.from_dict(specs[1].to_dict()) == specs[1]  # the journal keeps the line
    plan.write_text("faults:\n  - name: b\n    kind: pause\n    pid: 1\n    at: soon\n")
    with pytest.raises(FaultPlanError, match=r"plan.yaml:5: faults\[0\] \(b\).at: 'soon'"):
        load_fault_file(plan)


def test_every_backend_has_the_prepare_the_schedule_calls():
    from loadkit.faults.backends.base import BackendContext, BackendSet, FaultBackend

    specs = parse_faults(
        [
            {"name": "p", "at": "1s", "kind": "pause", "pid": 1},
            {"name": "h", "at": "1s", "kind": "app-latency", "via": "http", "latency": "1ms"},
        ]
    )
    backends = BackendSet(BackendContext(host="http://127.0.0.1:9"))
    backends.prepare(specs)  # neither backend defines prepare: the protocol's no-op serves
    for spec in specs:
        assert FaultBackend in type(backends.for_spec(spec)).__mro__
        assert type(backends.for_spec(spec)).prepare is FaultBackend.prepare
