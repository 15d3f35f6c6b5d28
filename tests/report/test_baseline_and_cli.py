"""Baselines and the report/baseline/compare commands, run as a user runs them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from loadkit.errors import BaselineError, ConfigError
from loadkit.report.baseline import load_baseline, parse_tolerances
from loadkit.rundir.synthetic import LatencyStep, SyntheticFault

SLOW = "GET /status/[id]"


def _clean_and_slow(make_run):
    clean = make_run("clean", duration_s=30, rate=300, seed=1)
    slow = make_run("slow", duration_s=30, rate=300, seed=2, steps=[LatencyStep(0.0, 1.6, SLOW)])
    return clean, slow


def test_regression_on_one_endpoint_fails_the_baseline_naming_only_it(
    make_run, tmp_path, cli
) -> None:
    clean, slow = _clean_and_slow(make_run)
    saved = cli("baseline", "save", str(clean), "gateway", "--dir", str(tmp_path / "b"))
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / "b" / "gateway.json").exists()

    same = cli(
        "report",
        str(make_run("again", duration_s=30, rate=300, seed=3)),
        "--baseline",
        "gateway",
        "--baseline-dir",
        str(tmp_path / "b"),
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "0 regression(s)" in same.stdout

    proc = cli("report", str(slow), "--baseline", "gateway", "--baseline-dir", str(tmp_path / "b"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    regressions = [line for line in proc.stdout.splitlines() if "REGRESSION" in line]
    assert regressions and all(SLOW in line for line in regressions)
    summary = json.loads((slow / "summary.json").read_text())
    flagged = {
        d["endpoint"]
        for d in summary["baseline"]["diffs"]
        if d["status"] == "regression" and d["gated"]
    }
    assert flagged == {SLOW}
    assert summary["verdict"] == "fail"
    suite = ET.parse(slow / "junit.xml").getroot()
    failures = suite.findall(".//testcase/failure")
    assert len(failures) == 1 and SLOW in failures[0].get("message", "")


def test_improvements_are_listed_and_do_not_fail(make_run, tmp_path, cli) -> None:
    clean, slow = _clean_and_slow(make_run)
    assert cli("baseline", "save", str(slow), "old", "--dir", str(tmp_path)).returncode == 0
    proc = cli("report", str(clean), "--baseline", str(tmp_path / "old.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPROVEMENT" in proc.stdout and SLOW in proc.stdout


def test_tolerances_parse_and_reject_nonsense() -> None:
    tolerances = parse_tolerances(["p95=10%", "p99.9=50%", "error_rate=0.5%"])
    assert tolerances["p95"].allowed == pytest.approx(0.10)
    assert tolerances["p99_9"].allowed == pytest.approx(0.5)
    assert tolerances["error_rate"].allowed == pytest.approx(0.005)
    for bad in ("p95", "p95=ten%", "speed=10%", "p95=10"):
        with pytest.raises(ConfigError) as caught:
            parse_tolerances([bad])
        assert "--tolerance" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "is not valid JSON (line 1)"),
        ('{"kind": "something-else"}', "is not a loadkit baseline"),
        (
            '{"schema": 1, "kind": "loadkit-baseline", "endpoints": {"GET /x": {"p95": "fast"}}}',
            "endpoints['GET /x']: has a malformed entry",
        ),
        (  # regression (issue 15): schema 99 was accepted
            '{"schema": 99, "kind": "loadkit-baseline", "endpoints": {"GET /x": {}}}',
            "schema: schema 99 is not supported",
        ),
        ('{"kind": "loadkit-baseline", "endpoints": {"GET /x": {}}}', "schema None"),
        (
            '{"schema": 1, "kind": "loadkit-baseline", "endpoints": {}}',
            "endpoints: is empty: its run had no requests",
        ),
        (
            '{"schema": 1, "kind": "loadkit-baseline", "endpoints": {"GET /x": {"p95": -1}}}',
            "has a malformed entry",
        ),
        (
            '{"schema": 1, "kind": "loadkit-baseline", "endpoints": {"GET /x": {"p95": 1e999}}}',
            "has a malformed entry",
        ),
        ("[" * 100_000, "is not valid JSON"),
    ],
)
def test_malformed_baselines_are_one_line_errors(tmp_path, content, words) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_exit_codes_and_one_line_errors(make_run, tmp_path, cli) -> None:
    run_dir = make_run("codes", duration_s=10, rate=100, checks=["p95 < 10s", "error_rate < 1%"])
    ok = cli("report", str(run_dir))
    assert ok.returncode == 0, ok.stderr
    assert "PASS  p95 < 10s" in ok.stdout and "verdict: PASS" in ok.stdout
    for name in ("summary.json", "report.html", "junit.xml"):
        assert (run_dir / name).stat().st_size > 0

    failing = cli("report", str(run_dir), "--check", "p50 < 1ms")
    assert failing.returncode == 1
    assert "FAIL  p50 < 1ms" in failing.stdout

    cases = [
        (["report", str(tmp_path / "nowhere")], "is not a directory"),
        (["report", str(run_dir), "--check", "p95 < 250"], "column 7: '250' needs a time unit"),
        (["report", str(run_dir), "--check", "p95 < 1s during nowhere"], "unknown phase"),
        (["report", str(run_dir), "--baseline", "missing"], "missing.json: not found"),
        (["report", str(run_dir), "--tolerance", "p95=lots"], "--tolerance p95"),
        (["baseline", "save", str(run_dir), "../x"], "is not a baseline name"),
    ]
    for args, words in cases:
        proc = cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        err = proc.stderr.strip()
        assert "\n" not in err and "Traceback" not in err and words in err, (args, err)


def test_report_of_an_empty_run_and_of_a_killed_run(make_run, tmp_path, cli) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"name": "empty", "checks": ["count > 0"]}))
    (empty / "latency.hlog").write_text("#[StartTime: 1795000000.000 (seconds since epoch)]\n")
    proc = cli("report", str(empty))
    assert proc.returncode == 1 and "FAIL  count > 0" in proc.stdout, proc.stderr
    killed = make_run(
        "killed",
        duration_s=12,
        rate=100,
        torn=True,
        checks=["recovery(never-happened) < 5s", "p99 < 10s"],
    )
    proc = cli("report", str(killed))
    assert proc.returncode == 1, proc.stderr  # the unreached fault fails, it is not bad input
    assert "the run never reached it" in proc.stdout and "PASS  p99 < 10s" in proc.stdout


def test_compare_exits_1_on_a_regression_and_renders_the_differences(
    make_run, tmp_path, cli
) -> None:
    """Regression (issue 15): ``compare`` always exited 0."""
    clean, slow = _clean_and_slow(make_run)
    out = tmp_path / "cmp.html"
    proc = cli("compare", str(clean), str(slow), "--out", str(out))
    assert proc.returncode == 1, proc.stderr  # slow regressed: compare gates like a check
    assert f"regression  {SLOW} p95" in proc.stdout
    same = cli("compare", str(clean), str(clean), "--out", str(tmp_path / "same.html"))
    assert same.returncode == 0 and "0 regression(s)" in same.stdout, same.stdout
    html = out.read_text()
    assert "data:image/png;base64," in html and "GET /status/[id]" in html


def test_report_names_phases_faults_and_escapes_html(make_run, cli) -> None:
    hostile = "GET /<script>alert(1)</script>"
    run_dir = make_run(
        "escape",
        duration_s=20,
        rate=100,
        endpoints=[hostile, "GET /ok"],
        faults=[SyntheticFault("<b>f</b>", 5, 3)],
    )
    assert cli("report", str(run_dir)).returncode == 0
    html = (run_dir / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>f</b>" not in html and "&lt;b&gt;f&lt;/b&gt;" in html


def test_the_real_command_line(make_run, real_cli) -> None:
    """The real process, once: entry point, stderr and exit codes."""
    run_dir = make_run("real", duration_s=5, rate=50, checks=["p99 < 1ms"])
    proc = real_cli("report", str(run_dir))
    assert proc.returncode == 1 and "FAIL  p99 < 1ms" in proc.stdout, proc.stderr
    bad = real_cli("report", str(run_dir), "--check", "p99 <")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_baseline_save_of_an_empty_run_is_refused(tmp_path, cli) -> None:
    """Regression (issue 15): an empty run saved an empty baseline and exited 0."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({"name": "empty", "started_at": 1.0}))
    (empty / "latency.hlog").write_text("#[StartTime: 1.000 (seconds since epoch)]\n")
    proc = cli("baseline", "save", str(empty), "nothing", "--dir", str(tmp_path / "b"))
    assert proc.returncode == 2 and "has no requests" in proc.stderr, proc.stdout + proc.stderr
    assert "\n" not in proc.stderr.strip() and not (tmp_path / "b" / "nothing.json").exists()


def test_out_pointing_at_a_file_is_one_line(make_run, tmp_path, cli) -> None:
    """Regression (issue 15): ``--out`` naming a file gave a traceback."""
    run_dir = make_run("out", duration_s=5)
    file = tmp_path / "a-file"
    file.write_text("x")
    for args in (
        ("report", str(run_dir), "--out", str(file)),
        ("report", str(run_dir), "--out", str(file / "below")),
        ("compare", str(run_dir), str(run_dir), "--out", str(tmp_path)),
        ("compare", str(run_dir), str(run_dir), "--out", str(file / "x.html")),
    ):
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "--out" in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
        assert proc.stdout == "", proc.stdout  # found before the work, nothing half-printed


def test_baseline_with_schema_99_is_refused(make_run, tmp_path, cli) -> None:
    """Regression (issue 15): a baseline with ``schema: 99`` was accepted."""
    run_dir = make_run("schema", duration_s=5, rate=50)
    assert cli("baseline", "save", str(run_dir), "b", "--dir", str(tmp_path)).returncode == 0
    saved = json.loads((tmp_path / "b.json").read_text())
    (tmp_path / "b.json").write_text(json.dumps({**saved, "schema": 99}))
    for args in (
        ("report", str(run_dir), "--baseline", "b", "--baseline-dir", str(tmp_path)),
        ("baseline", "show", "b", "--dir", str(tmp_path)),
    ):
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        err = proc.stderr.strip()
        assert err.count("\n") == 0 and "b.json: schema: schema 99 is not supported" in err, err
