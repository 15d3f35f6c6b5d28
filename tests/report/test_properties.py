"""Property tests (Hypothesis): damaged and random input never fools the reporter.

Over check expressions, baselines, scenario files and every run-dir file, with
damaged and random content: never a traceback, never a hang (each report is timed),
exit 2 with one line for bad input, and never PASS for a run whose intact version
fails. Examples are derandomized, so a run in CI is reproducible.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadkit.cli import main
from loadkit.errors import BaselineError, CheckError, ConfigError
from loadkit.report.analysis import analyse
from loadkit.report.baseline import DEFAULT_TOLERANCES, compare_to_baseline, load_baseline, snapshot
from loadkit.report.checks import parse_check, validate_names
from loadkit.report.recovery import find_recoveries
from loadkit.report.verdicts import evaluate_checks
from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import SyntheticFault, SyntheticRun, write_run_dir
from loadkit.scenario.load import load_scenario

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REPORT_TIME_LIMIT_S = 60.0  # generous: a report of this run takes about a second
DAMAGE = pytest.mark.slow  # a report per example: about a minute per file

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _report(run_dir: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["report", str(run_dir)])
    assert time.monotonic() - started < REPORT_TIME_LIMIT_S
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def intact(tmp_path_factory) -> Path:
    """A finished run that fails its one check (2 % of requests fail), as loadkit writes it."""
    run_dir = write_run_dir(
        SyntheticRun(
            name="intact",
            duration_s=20,
            rate=60,
            error_rate=0.02,
            faults=[SyntheticFault("slow", 8, 3, recover_s=1)],
            stages=[(0, 5, "warmup"), (4, 10, "steady")],
            checks=["failures == 0", PROBE_CHECK, AUDIT_CHECK],
        ),
        tmp_path_factory.mktemp("intact") / "run",
    )
    _service_files(run_dir)
    rows = load_run_dir(run_dir).latency.rows
    meta = json.loads((run_dir / "run.json").read_text())
    failed = int(rows.loc[rows["outcome"] == "fail", "count"].sum())
    meta["totals"] = {"requests": int(rows["count"].sum()), "failures": failed}
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2))
    events = (run_dir / "events.jsonl").read_text()
    start = {
        "t": meta["started_at"],
        "type": "run_start",
        "checks": meta["checks"],
        "baseline": None,
    }
    (run_dir / "events.jsonl").write_text(json.dumps(start) + "\n" + events)
    code, out, err = _report(run_dir)
    assert code == 1 and "FAIL  failures == 0" in out, out + err
    assert f"PASS  {PROBE_CHECK}" in out and f"PASS  {AUDIT_CHECK}" in out, out
    return run_dir


PROBE_CHECK = "max(probe(queue.depth)) < 50"
AUDIT_CHECK = "lost(jobs) == 0"


def _service_files(run_dir: Path) -> None:
    """probes.jsonl, audit.json and failures.json as a run with probes and an audit has them."""
    start = json.loads((run_dir / "run.json").read_text())["started_at"]
    samples = [
        {"t": start + 1 + k, "probe": "queue", "ok": True, "values": {"depth": k % 7}}
        for k in range(15)
    ]
    (run_dir / "probes.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    counts = {"accepted": 40, "reached": 40, "lost": 0, "late": 0, "unknown": 0,
              "applied_twice": 0}  # fmt: skip
    audit = {"status": "done", "reason": None, "kinds": {"jobs": counts}}
    (run_dir / "audit.json").write_text(json.dumps(audit, indent=2))
    failure = {"type": "POST", "name": "/execute", "message": "HTTP 503", "count": 24}
    failures = {"schema": 1, "total": 24, "distinct": 1, "omitted": 0, "omitted_count": 0,
                "failures": [failure]}  # fmt: skip
    (run_dir / "failures.json").write_text(json.dumps(failures, indent=2))


# -- damage -------------------------------------------------------------------------------


@st.composite
def damaged_text(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with one damage: cut, garbled bytes, a line removed, added or changed."""
    data = text.encode()
    lines = text.splitlines(keepends=True)
    kind = draw(st.sampled_from(["cut", "garble", "drop_line", "add_line", "edit_line", "deep"]))
    if kind == "deep":  # nested past Python's recursion limit
        return draw(st.sampled_from([b"[", b'{"a":'])) * 100_000
    if kind == "cut":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "garble":
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        junk = draw(st.binary(min_size=1, max_size=64))
        return data[:at] + junk + data[at + len(junk) :]
    if not lines:
        return draw(st.binary(max_size=64))
    k = draw(st.integers(0, len(lines) - 1))
    if kind == "drop_line":
        del lines[k]
    elif kind == "add_line":
        lines.insert(k, draw(st.text(max_size=80)) + "\n")
    else:  # change one comma-separated field of the line (times, lengths, counts, payloads)
        fields = lines[k].rstrip("\n").split(",")
        f = draw(st.integers(0, len(fields) - 1))
        fields[f] = draw(
            st.sampled_from(["nan", "inf", "-1", "0", "1e12", "1e-12", "", "x", "HISTFAAA"])
            | st.floats(allow_nan=True).map(repr)
            | st.text(max_size=12)
        )
        lines[k] = ",".join(fields) + "\n"
    return "".join(lines).encode("utf-8", "surrogatepass")


def _set_path(document: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    document[head] = _set_path(document[head], rest, value)
    return document


@st.composite
def damaged_json(draw: st.DrawFn, document: Any) -> bytes:
    """``document`` with one value (at any depth) replaced, or a key removed."""
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, child in items:
            walk(child, [*path, key])

    walk(document, [])
    path = draw(st.sampled_from(paths))
    copy = json.loads(json.dumps(document))
    if path and draw(st.booleans()) and isinstance(_get(copy, path[:-1]), dict):
        del _get(copy, path[:-1])[path[-1]]
    else:
        copy = _set_path(copy, path, draw(json_values))
    return json.dumps(copy).encode()


def _get(document: Any, path: list[Any]) -> Any:
    for key in path:
        document = document[key]
    return document


def _check_damaged(intact: Path, tmp_path_factory, name: str, content: bytes) -> None:
    run_dir = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(intact, run_dir)
    (run_dir / name).write_bytes(content)
    code, out, err = _report(run_dir)
    assert code in (1, 2), (code, out[-2000:], err)  # never PASS: the intact run fails
    if code == 2:
        assert err.strip().count("\n") == 0 and err.startswith("loadkit report: error: "), err
    else:
        assert "verdict: FAIL" in out and not err, (out[-2000:], err)


@DAMAGE
@SETTINGS
@given(data=st.data())
def test_damaged_latency_log_never_passes(intact, tmp_path_factory, data) -> None:
    text = (intact / "latency.hlog").read_text()
    _check_damaged(intact, tmp_path_factory, "latency.hlog", data.draw(damaged_text(text)))


@DAMAGE
@SETTINGS
@given(data=st.data())
def test_damaged_events_never_pass(intact, tmp_path_factory, data) -> None:
    text = (intact / "events.jsonl").read_text()
    lines = text.splitlines()
    if data.draw(st.booleans()):
        content = data.draw(damaged_text(text))
    else:  # one event's JSON damaged in place
        k = data.draw(st.integers(0, len(lines) - 1))
        lines[k] = data.draw(damaged_json(json.loads(lines[k]))).decode()
        content = ("\n".join(lines) + "\n").encode()
    _check_damaged(intact, tmp_path_factory, "events.jsonl", content)


@DAMAGE
@SETTINGS
@given(data=st.data())
def test_damaged_run_json_never_passes(intact, tmp_path_factory, data) -> None:
    text = (intact / "run.json").read_text()
    if data.draw(st.booleans()):
        content = data.draw(damaged_text(text))
    else:
        content = data.draw(damaged_json(json.loads(text)))
    _check_damaged(intact, tmp_path_factory, "run.json", content)


@DAMAGE
@SETTINGS
@given(data=st.data())
def test_damaged_resources_never_pass(intact, tmp_path_factory, data) -> None:
    text = (intact / "resources.csv").read_text()
    _check_damaged(intact, tmp_path_factory, "resources.csv", data.draw(damaged_text(text)))


@DAMAGE
@SETTINGS
@pytest.mark.parametrize("name", ["probes.jsonl", "audit.json", "failures.json"])
@given(data=st.data())
def test_damaged_probes_audit_and_failures_never_pass(
    intact, tmp_path_factory, name: str, data
) -> None:
    text = (intact / name).read_text()
    if name.endswith(".json") and data.draw(st.booleans()):
        content = data.draw(damaged_json(json.loads(text)))
    else:
        content = data.draw(damaged_text(text))
    _check_damaged(intact, tmp_path_factory, name, content)


# -- check expressions, baselines, scenarios -------------------------------------------------

check_words = st.sampled_from(
    ["p95", "p99.9", "avg", "min", "stddev", "max", "error_rate", "rate", "count", "failures",
     "recovery", "optional:", "(", ")", "POST /execute", "<", "<=", "==", "!=", ">", "250ms",
     "1%", "50/s", "10", "-3", "1e3", "during", "after", "before", "faults", "fault:slow",
     "steady", "warmup", "1", "run", "µs", "m", " ", "\t", "\x00", "ÿ"]
)  # fmt: skip
expressions = st.lists(check_words, max_size=9).map(" ".join) | st.text(max_size=40)


@pytest.fixture(scope="module")
def analysed(intact):
    analysis = analyse(load_run_dir(intact))
    return analysis, find_recoveries(analysis)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(expression=expressions)
def test_any_check_expression_parses_or_is_one_line(expression: str) -> None:
    try:
        check = parse_check(expression)
    except CheckError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2
        return
    assert check.metric and check.comparator and not math.isnan(check.limit)
    try:
        validate_names(check, stages=["warmup", "steady"], faults=["slow"])
    except CheckError as exc:
        assert "\n" not in str(exc)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(expression=expressions, source=st.sampled_from(["scenario", "command line"]))
def test_any_check_evaluates_or_is_one_line(analysed, expression: str, source: str) -> None:
    analysis, recoveries = analysed
    try:
        (verdict,) = evaluate_checks(
            [(expression, source)], analysis, recoveries, lenient_sources=frozenset({"scenario"})
        )
    except CheckError as exc:
        assert "\n" not in str(exc)
        return
    assert verdict.status in ("pass", "fail", "skip")
    if verdict.value is None:
        assert verdict.status != "pass" or verdict.skipped


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    document=json_values
    | st.builds(lambda e: {"schema": 1, "kind": "loadkit-baseline", "endpoints": e}, json_values)
)
def test_any_baseline_loads_or_is_one_line(analysed, tmp_path_factory, document: Any) -> None:
    path = tmp_path_factory.mktemp("baseline") / "b.json"
    path.write_text(json.dumps(document))
    try:
        data = load_baseline(path)
    except BaselineError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2
        return
    compare_to_baseline(snapshot(analysed[0]), data, DEFAULT_TOLERANCES)


SCENARIO = {
    "name": "prop",
    "target": "http://127.0.0.1:9",
    "users": {"WorkspaceUser": 1},
    "stages": [{"name": "warmup", "duration": "2s", "users": 1, "spawn_rate": 1}],
    "faults": [
        {"name": "slow", "at": "1s", "for": "1s", "kind": "app-latency", "via": "http",
         "path": "/execute", "latency": "5ms"}
    ],
    "checks": ["p95 < 1s during warmup", "recovery(slow) < 5s"],
}  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_scenario_loads_or_is_one_line(tmp_path_factory, data) -> None:
    document = json.loads(data.draw(damaged_json(SCENARIO)))
    path = tmp_path_factory.mktemp("scenario") / "s.yaml"
    path.write_text(yaml.safe_dump(document) if data.draw(st.booleans()) else json.dumps(document))
    try:
        load_scenario(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2
