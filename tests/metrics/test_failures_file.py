"""failures.json against real Locust runs: Locust's own failures CSV is the witness."""

from __future__ import annotations

import csv
import json
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from metrics_support import LOCUSTFILES, free_port, locust, poll_until, run_dirs, stop

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

    report = locust_report(run_dir, "--check", "error_rate < 0.1%")
    assert report.returncode == 1, report.stdout + report.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["failures"]["failures"] == document["failures"]
    html = (run_dir / "report.html").read_text()
    assert "Failures" in html and "connection closed; Authorization: ***" in html
    junit = (run_dir / "junit.xml").read_text()
    assert "top failure messages" in junit and "GET /fail: HTTPError" in junit
    for name in ("summary.json", "report.html", "junit.xml"):
        assert SECRET not in (run_dir / name).read_text()


def locust_report(run_dir: Path, *args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "loadkit", "report", str(run_dir), *args],
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


def _http(url: str, form: dict[str, str] | None = None) -> str:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=30) as response:
        return str(response.read().decode())


def _up(web: str) -> bool:
    try:
        return bool(_http(web + "/"))
    except OSError:
        return False


def _finished(run_dir: Path) -> bool:
    return json.loads((run_dir / "run.json").read_text())["exit_status"] is not None


def test_every_web_ui_test_gets_its_own_failures_file(tmp_path, server) -> None:
    """Each start from the web UI: its own counts; the witness is the UI's own error table."""
    url, _ = server
    out = tmp_path / "reports"
    web = f"http://127.0.0.1:{free_port()}"
    proc = locust(
        [
            "-f", str(LOCUSTFILES / "failing.py"), "--web-host", "127.0.0.1",
            "--web-port", web.rsplit(":", 1)[1], "-H", url, "--loadkit-out", str(out),
        ],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        poll_until(lambda: _up(web), timeout=60)
        for round_ in (1, 2):
            form = {"user_count": "3", "spawn_rate": "3", "host": url}
            _http(web + "/swarm", {**form, "loadkit_run_name": f"ui-{round_}"})
            run_dir = poll_until(
                lambda r=round_: [d for d in run_dirs(out) if d.name.endswith(f"ui-{r}")],
                timeout=60,
            )[0]
            time.sleep(3.5)  # the users are idle after 2 s
            _http(web + "/stop", {})
            poll_until(lambda d=run_dir: _finished(d) and (d / "failures.json").exists(), 60)
            shown = json.loads(_http(web + "/stats/requests"))["errors"]
            witness = Counter({(e["method"], e["name"]): e["occurrences"] for e in shown})
            document = json.loads((run_dir / "failures.json").read_text())
            assert witness and _file_counts(document) == witness
            assert SECRET not in (run_dir / "failures.json").read_text()
    finally:
        stop(proc)
    assert len(run_dirs(out)) == 2


def test_the_file_is_bounded_and_redacted_before_the_cut() -> None:
    from locust.stats import StatsError

    from loadkit.metrics.failures import MAX_FAILURES, MAX_MESSAGE_CHARS, failures_document

    errors = [StatsError("GET", "/x", f"error {i}", occurrences=i + 1) for i in range(60)]
    errors += [  # equal once redacted: one row
        StatsError("GET", "/t", f"bad /t?token={SECRET}-{i}", occurrences=1) for i in range(3)
    ]
    long = "x" * (MAX_MESSAGE_CHARS - 8) + f"https://bob:{SECRET}@host/"  # the cut splits it
    errors.append(StatsError("POST", "/long", long, occurrences=100))
    document = failures_document(errors)
    rows = document["failures"]
    assert len(rows) == MAX_FAILURES and document["distinct"] == 62
    assert document["omitted"] == 12 and document["total"] == sum(range(1, 61)) + 3 + 100
    assert document["omitted_count"] == document["total"] - sum(r["count"] for r in rows)
    assert rows[0]["name"] == "/long" and len(rows[0]["message"]) == MAX_MESSAGE_CHARS
    assert rows[0]["message"].endswith("…") and "bob" not in rows[0]["message"]
    assert SECRET not in json.dumps(document)
    assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)
    assert document["omitted"] + len(rows) == document["distinct"]
