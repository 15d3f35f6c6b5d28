"""failures.json against real Locust runs: Locust's own failures CSV is the witness."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from metrics_support import LOCUSTFILES, free_port, locust, run_dirs, stop

SECRET = "s3cr3t-planted"


def _locust_failures(prefix: Path) -> tuple[Counter[tuple[str, str]], str]:
    """Locust's ``<prefix>_failures.csv``: occurrences per (method, name), and its raw text."""
    path = Path(f"{prefix}_failures.csv")
    counts: Counter[tuple[str, str]] = Counter()
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            counts[(row["Method"], row["Name"])] += int(row["Occurrences"])
    return counts, path.read_text()


def _file_counts(document: dict) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for row in document["failures"]:
        counts[(row["type"], row["name"])] += row["count"]
    return counts


def _check_against_locust(run_dir: Path, prefix: Path) -> dict:
    document = json.loads((run_dir / "failures.json").read_text())
    witness, raw = _locust_failures(prefix)
    assert SECRET in raw  # the secret really was in Locust's failure messages
    assert _file_counts(document) == witness
    assert document["omitted"] == 0 and document["total"] == sum(witness.values())
    run = json.loads((run_dir / "run.json").read_text())
    assert document["total"] == run["totals"]["failures"]
    text = (run_dir / "failures.json").read_text()
    assert SECRET not in text
    messages = {(r["name"], r["message"]) for r in document["failures"]}
    assert any(n == "/checked" and "connection closed" in m for n, m in messages)
    assert any(n == "/fail-token" and "token=***" in m for n, m in messages)
    return document


def test_local_run_keeps_redacted_failure_messages(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    proc = locust(
        [
            "-f", str(LOCUSTFILES / "failing.py"), "--headless", "-u", "4", "-r", "4",
            "-t", "4s", "-H", url, "--csv", str(tmp_path / "locust"), "--loadkit-out", str(out),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, output
    [run_dir] = run_dirs(out)
    document = _check_against_locust(run_dir, tmp_path / "locust")
    assert {r["name"] for r in document["failures"]} == {"/fail", "/fail-token", "/checked"}

    report = locust_report(run_dir)
    assert report.returncode in (0, 1), report.stdout + report.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["failures"]["failures"] == document["failures"]
    html = (run_dir / "report.html").read_text()
    assert "Failures" in html and "connection closed; Authorization: ***" in html
    assert SECRET not in html and SECRET not in (run_dir / "summary.json").read_text()


def locust_report(run_dir: Path):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "loadkit", "report", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_master_writes_its_workers_merged_failures(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = str(free_port())
    locustfile = str(LOCUSTFILES / "failing.py")
    web = ["--web-host", "127.0.0.1", "--web-port", str(free_port())]
    master = locust(
        [
            "-f", locustfile, "--master", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port, "--expect-workers", "2", "-u", "4", "-r", "4",
            "--autostart", "--autoquit", "3", "-t", "4s", *web, "-H", url,
            "--csv", str(tmp_path / "locust"), "--loadkit-out", str(out),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    worker_args = ["-f", locustfile, "--worker", "--master-host", "127.0.0.1"]
    workers = [locust([*worker_args, "--master-port", port], cwd=tmp_path) for _ in range(2)]
    try:
        output, _ = master.communicate(timeout=180)
        for worker in workers:
            worker.wait(timeout=60)
    finally:
        for proc in (master, *workers):
            stop(proc)
    assert master.returncode == 1, output
    [run_dir] = run_dirs(out)
    _check_against_locust(run_dir, tmp_path / "locust")
