"""Damaged run directories: exit 2 with one line, or a report that says what it skipped.

Each case of issue 15 is a named regression test. The bar: never a traceback, never
a hang, never PASS for a run whose intact version fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadkit.report.analysis import analyse
from loadkit.rundir.reader import load_run_dir
from loadkit.rundir.synthetic import LatencyStep

FAILING = ["p99 < 1ms", "count > 0"]  # the intact run fails the first, passes the second


def with_totals(run_dir: Path) -> Path:
    """Put Locust's totals in run.json, as a real run has them (synthetic runs write 0)."""
    rows = load_run_dir(run_dir).latency.rows
    meta = json.loads((run_dir / "run.json").read_text())
    failed = int(rows.loc[rows["outcome"] == "fail", "count"].sum())
    meta["totals"] = {"requests": int(rows["count"].sum()), "failures": failed}
    (run_dir / "run.json").write_text(json.dumps(meta))
    return run_dir


@pytest.fixture
def failing_run(make_run) -> Path:
    return with_totals(make_run("failing", duration_s=20, rate=100, checks=FAILING))


def _one_line_exit_2(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def _edit_meta(run_dir: Path, **changes: object) -> None:
    meta = json.loads((run_dir / "run.json").read_text())
    meta.update(changes)
    (run_dir / "run.json").write_text(json.dumps(meta))


def test_intact_failing_run_fails(failing_run, cli) -> None:
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "verdict: FAIL" in result.stdout


def test_run_json_replaced_by_garbage_is_exit_2_never_pass(failing_run, cli) -> None:
    """Regression: with run.json = '{oops' a failing run exited 0 PASS (its checks vanished)."""
    (failing_run / "run.json").write_text("{oops")
    err = _one_line_exit_2(cli("report", str(failing_run)))
    assert "run.json: is not valid JSON" in err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[1, 2]", "is not a JSON object"),
        ('{"checks": "p99 < 1ms"}', "checks: must be a list"),
        ('{"checks": [], "baseline": 5}', "baseline: must be a baseline name"),
        ('{"schema": 99, "checks": []}', "schema: schema 99 is not supported"),
        ("[" * 50_000, "nested too deep"),
    ],
)
def test_unusable_run_json_is_exit_2(failing_run, cli, content: str, words: str) -> None:
    (failing_run / "run.json").write_text(content)
    assert words in _one_line_exit_2(cli("report", str(failing_run)))


def test_run_json_missing_is_exit_2(failing_run, cli) -> None:
    (failing_run / "run.json").unlink()
    assert "run.json: is missing" in _one_line_exit_2(cli("report", str(failing_run)))


def test_checks_dropped_from_run_json_still_come_from_the_start_event(failing_run, cli) -> None:
    """A run.json whose checks were emptied: the run_start event recorded them too."""
    events = (failing_run / "events.jsonl").read_text().splitlines()
    start = {"t": 1_795_000_000.0, "type": "run_start", "checks": FAILING, "baseline": None}
    (failing_run / "events.jsonl").write_text("\n".join([json.dumps(start), *events]) + "\n")
    _edit_meta(failing_run, checks=[])
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "FAIL  p99 < 1ms" in result.stdout, result.stdout
    assert "run.json lacks 2 check(s) recorded at the start" in result.stdout


@pytest.mark.parametrize("damage", ["missing", "empty", "garbage"])
def test_missing_empty_or_garbage_latency_log_is_exit_2(failing_run, cli, damage: str) -> None:
    """Regression: these exited 1 ("check failed") with no note."""
    hlog = failing_run / "latency.hlog"
    if damage == "missing":
        hlog.unlink()
    else:
        hlog.write_bytes(b"" if damage == "empty" else b"\x00\xffnot a log\nat,all\n" * 50)
    err = _one_line_exit_2(cli("report", str(failing_run)))
    assert "latency.hlog: is " in err


def test_latency_log_cut_inside_its_header_fails_with_a_note(failing_run, cli) -> None:
    """Regression: it reported 0 requests and "did not recover", with no note."""
    (failing_run / "latency.hlog").write_text("#[StartTime: 1795000000.000 (seconds since ep")
    _edit_meta(failing_run, checks=["failures == 0"])  # would pass on an empty log
    result = cli("report", str(failing_run))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL  run directory intact" in result.stdout
    counted = json.loads((failing_run / "run.json").read_text())["totals"]["requests"]
    assert f"latency.hlog holds 0 request(s) (0 failed) of the {counted}" in result.stdout


def test_latency_log_cut_in_the_middle_of_a_finished_run_fails(failing_run, cli) -> None:
    hlog = failing_run / "latency.hlog"
    text = hlog.read_text()
    hlog.write_text(text[: len(text) // 2])
    _edit_meta(failing_run, checks=["failures == 0"])
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "FAIL  run directory intact" in result.stdout
    summary = json.loads((failing_run / "summary.json").read_text())
    assert any("Locust counted" in w for w in summary["warnings"])


def test_nan_time_in_events_is_skipped_with_a_warning(failing_run, cli) -> None:
    """Regression: {"t": NaN} in events.jsonl gave a traceback."""
    with (failing_run / "events.jsonl").open("a") as events:
        events.write('{"t": NaN, "type": "stage", "index": 9}\n{"t": Infinity, "type": "x"}\n')
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "events.jsonl: skipped 2 torn or malformed line(s)" in result.stdout


def test_started_at_zero_is_ignored_not_161_gib(failing_run, cli) -> None:
    """Regression: started_at: 0 tried to allocate 161 GiB (MemoryError)."""
    intact = analyse(load_run_dir(failing_run)).stat("run", "ALL", "p99")
    _edit_meta(failing_run, started_at=0)
    started = time.monotonic()
    result = cli("report", str(failing_run))
    assert time.monotonic() - started < 60
    assert result.returncode == 1 and "started_at 0 is not a time" in result.stdout
    summary = json.loads((failing_run / "summary.json").read_text())
    assert summary["overall"]["p99"] == pytest.approx(intact)
    assert summary["run"]["duration_s"] == pytest.approx(20.0, abs=1.0)


def test_tiny_interval_does_not_hang(failing_run, cli) -> None:
    """Regression: interval_s: 1e-6 hung for more than 120 s."""
    _edit_meta(failing_run, interval_s=1e-6)
    started = time.monotonic()
    result = cli("report", str(failing_run))
    assert time.monotonic() - started < 60
    assert result.returncode == 1 and "interval_s 1e-06 is not 0.1 to 3600" in result.stdout


def test_one_event_far_in_the_future_does_not_stretch_the_run(failing_run, cli) -> None:
    """Regression: one event at t: 1e12 made the run 998203948727 s long, with no warning."""
    with (failing_run / "events.jsonl").open("a") as events:
        events.write('{"t": 1e12, "type": "users", "count": 3}\n')
    result = cli("report", str(failing_run))
    assert result.returncode == 1
    assert "skipped 1 event(s) far outside the run" in result.stdout
    summary = json.loads((failing_run / "summary.json").read_text())
    assert summary["run"]["duration_s"] == pytest.approx(20.0, abs=1.0)


def test_hlog_rows_with_impossible_times_fail_the_run(failing_run, cli) -> None:
    hlog = failing_run / "latency.hlog"
    lines = hlog.read_text().splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith("Tag="))
    fields = lines[first].split(",")
    fields[1] = "1e12"
    lines[first] = ",".join(fields)
    hlog.write_text("\n".join(lines) + "\n")
    _edit_meta(failing_run, checks=["count > 0"])
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "impossible time" in result.stdout


def test_zip_bomb_line_is_skipped_not_inflated(failing_run, cli) -> None:
    import base64
    import struct
    import zlib

    bomb = zlib.compress(b"\x00" * (64 << 20), 9)  # 64 MB of zeros in ~64 KB
    payload = base64.b64encode(struct.pack(">II", 0x1C849314, len(bomb)) + bomb).decode()
    with (failing_run / "latency.hlog").open("a") as hlog:
        hlog.write(f"Tag=ok:GET%20/x,1.000,1.000,1.000,{payload}\n")
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "skipped 1 torn or malformed line(s)" in result.stdout


def test_damaged_resources_are_skipped_with_a_warning(failing_run, cli) -> None:
    with (failing_run / "resources.csv").open("a") as csv:
        csv.write("nan,gateway,process,python,1e400,-5,x,\nnot,a,row\n")
    result = cli("report", str(failing_run))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "resources.csv: skipped 2 row(s) without a time" in result.stdout


def test_zero_length_interval_of_a_worker_at_the_stop_is_kept(failing_run) -> None:
    """The writer ends the last interval at the stop: a worker's counts arriving then get a
    0-length line (found by a real 1-worker run, where they were first taken for damage)."""
    _edit_meta(failing_run, runner={"mode": "master", "workers": 1})  # as that run was
    hlog = failing_run / "latency.hlog"
    before = load_run_dir(failing_run).latency
    last = hlog.read_text().splitlines()[-1].split(",")
    last[2] = "0.000"
    with hlog.open("a") as out:
        out.write(",".join(last) + "\n")
    after = load_run_dir(failing_run)
    assert after.latency.out_of_range == 0 and not after.damage
    assert len(after.latency.rows) == len(before.rows) + 1


PROBE_CHECK = "max(probe(queue.depth)) < 5"


def _with_probes(run_dir: Path, depths: list[int]) -> list[str]:
    start = json.loads((run_dir / "run.json").read_text())["started_at"]
    lines = [
        json.dumps({"t": start + 1 + k, "probe": "queue", "ok": True, "values": {"depth": d}})
        for k, d in enumerate(depths)
    ]
    (run_dir / "probes.jsonl").write_text("\n".join(lines) + "\n")
    return lines


@pytest.mark.parametrize("finished", [True, False])
def test_damaged_probe_sample_cannot_turn_fail_into_pass(make_run, cli, finished: bool) -> None:
    """The one probe sample that fails a check is garbled: the run still fails, and says why."""
    run_dir = with_totals(make_run("probed", duration_s=10, rate=50, checks=[PROBE_CHECK]))
    if not finished:  # a killed run: a torn last line is expected, two bad lines are damage
        _edit_meta(run_dir, exit_status=None, stopped_at=None, exit_code=None)
    lines = _with_probes(run_dir, [1, 2, 9, 1])
    intact = cli("report", str(run_dir))
    assert intact.returncode == 1 and f"FAIL  {PROBE_CHECK}: 9" in intact.stdout, intact.stdout
    lines[2] = lines[2][:25] + "\x00garbled"
    if not finished:
        lines[0] = lines[0][:10]
    (run_dir / "probes.jsonl").write_text("\n".join(lines) + "\n")
    damaged = cli("report", str(run_dir))
    assert damaged.returncode == 1 and "verdict: FAIL" in damaged.stdout, damaged.stdout
    skipped = f"probes.jsonl: skipped {1 if finished else 2} torn or malformed line(s)"
    assert "FAIL  run directory intact" in damaged.stdout and skipped in damaged.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert any(skipped in w for w in summary["warnings"]) and summary["verdict"] == "fail"
    assert skipped in (run_dir / "report.html").read_text()


def test_torn_last_probe_line_of_a_killed_run_is_a_warning(make_run, cli) -> None:
    run_dir = make_run("killed", duration_s=10, rate=50, checks=["max(probe(queue.depth)) < 50"])
    _edit_meta(run_dir, exit_status=None, stopped_at=None, exit_code=None)
    lines = _with_probes(run_dir, [1, 2, 3])
    (run_dir / "probes.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:20])
    result = cli("report", str(run_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "note: probes.jsonl: skipped 1 torn or malformed line(s)" in result.stdout


def test_damaged_probes_without_probe_checks_is_a_warning(failing_run, cli) -> None:
    lines = _with_probes(failing_run, [1, 2])
    (failing_run / "probes.jsonl").write_text(lines[0] + "\n{oops\n" + lines[1] + "\n")
    result = cli("report", str(failing_run), "--check", "count > 0")
    assert "note: probes.jsonl: skipped 1 torn or malformed line(s)" in result.stdout
    assert "run directory intact" not in result.stdout  # no check reads the probes


@pytest.mark.parametrize("name", ["audit.json", "failures.json", "probes.jsonl", "events.jsonl"])
def test_json_nested_too_deep_is_a_warning_not_a_traceback(failing_run, cli, name: str) -> None:
    """A file of 100,000 '[' made json.loads raise RecursionError (a traceback)."""
    (failing_run / name).write_text("[" * 100_000 + "\n")
    result = cli("report", str(failing_run), "--check", "lost(jobs) == 0")
    assert result.returncode == 1 and "verdict: FAIL" in result.stdout, result.stderr
    assert not result.stderr and f"note: {name}" in result.stdout.replace(
        f"note: {failing_run}/", "note: "
    ), result.stdout


def test_repeated_hlog_lines_cannot_lower_the_percentiles(make_run, cli) -> None:
    """Fast lines repeated (appended again) pulled p95 under its limit: a false PASS."""
    check = "p95 < 100ms"
    run_dir = with_totals(
        make_run("slow-half", duration_s=20, rate=100, steps=[LatencyStep(10, 20.0)],
                 checks=[check])
    )  # fmt: skip
    intact = cli("report", str(run_dir))
    assert intact.returncode == 1 and f"FAIL  {check}" in intact.stdout, intact.stdout
    lines = (run_dir / "latency.hlog").read_text().splitlines(keepends=True)
    fast = [line for line in lines if line.startswith("Tag=") and float(line.split(",")[1]) < 9]
    (run_dir / "latency.hlog").write_text("".join(lines + fast * 30))
    damaged = cli("report", str(run_dir))
    assert f"PASS  {check}" in damaged.stdout  # what the repeated lines did to the percentile
    assert damaged.returncode == 1 and "verdict: FAIL" in damaged.stdout, damaged.stdout
    assert "more than the" in damaged.stdout and "lines repeated or added" in damaged.stdout


def test_reset_stats_run_is_not_called_damaged(target, tmp_path, cli) -> None:
    """After Locust's stats reset (--reset-stats, the web UI's button) its totals miss the
    requests before it: no totals are written, so the log is not called damaged."""
    locustfile = Path(__file__).with_name("report_locustfile.py")
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "4",
         "-r", "2", "-t", "4s", "--reset-stats", "--host", target.url,
         "--loadkit-out", str(out), "--stop-timeout", "5"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = out.iterdir()
    result = cli("report", str(run_dir), "--check", "count > 0")
    assert result.returncode == 0, result.stdout
    assert "run directory intact" not in result.stdout and "more than the" not in result.stdout


def test_killed_run_with_its_latency_log_cut_inside_the_header_fails(failing_run, cli) -> None:
    """A killed run has no totals to compare with: the cut header itself is the damage
    (the writer writes the whole header at once); a complete header alone is a run killed
    before its first interval, and only a note."""
    _edit_meta(failing_run, checks=["failures == 0"], exit_status=None, stopped_at=None)
    meta = json.loads((failing_run / "run.json").read_text())
    del meta["totals"]
    (failing_run / "run.json").write_text(json.dumps(meta))
    header = (failing_run / "latency.hlog").read_text().split("Tag=", 1)[0]
    assert header.rstrip().endswith('"Interval_Compressed_Histogram"'), header
    (failing_run / "latency.hlog").write_text(header[:50])
    cut = cli("report", str(failing_run))
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "FAIL  run directory intact" in cut.stdout
    assert "latency.hlog is cut inside its header" in cut.stdout
    (failing_run / "latency.hlog").write_text(header)
    empty = cli("report", str(failing_run))
    assert empty.returncode == 0, empty.stdout + empty.stderr
    assert "note: latency.hlog holds no requests" in empty.stdout


def test_histogram_claiming_five_digits_is_damage_not_a_huge_allocation(failing_run, cli) -> None:
    """Regression: a first line with 5 significant digits over 1 µs … 2^62 sized every
    report array by its ~6 M buckets (613 MB peak). loadkit writes 3 digits: more is refused."""
    import numpy as np

    from loadkit.rundir.hdr_codec import Layout, encode_counts, unwrap

    wide = Layout(1, 1 << 62, 5)
    encoded = encode_counts(wide, np.array([10]), np.array([1]))
    with pytest.raises(ValueError, match="out of range"):
        unwrap(encoded)
    hlog = failing_run / "latency.hlog"
    lines = hlog.read_text().splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith("Tag="))
    fields = lines[first].split(",")
    lines.insert(first, ",".join([*fields[:4], encoded]))
    hlog.write_text("\n".join(lines) + "\n")
    result = cli("report", str(failing_run))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "skipped 1 torn or malformed line(s)" in result.stdout
