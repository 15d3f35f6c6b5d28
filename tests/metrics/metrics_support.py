"""Helpers for the metrics tests: real servers and real Locust processes on 127.0.0.1."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOCUSTFILES = HERE / "locustfiles"
BIN = Path(sys.executable).parent
LOCUST = str(BIN / "locust")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll_until(condition: Callable[[], Any], timeout: float = 60.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


@contextmanager
def tiny_server() -> Iterator[tuple[str, int]]:
    """The stdlib test server as a subprocess: yields (url, pid)."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "tiny_server.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("port: "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}", proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def locust(args: list[str], cwd: Path, **popen: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [LOCUST, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []


def locust_csv_stats(prefix: Path) -> dict[str, dict[str, str]]:
    """Locust's own ``<prefix>_stats.csv`` rows by ``"<Type> <Name>"`` (incl. Aggregated)."""
    with open(f"{prefix}_stats.csv", newline="") as file:
        return {f"{row['Type']} {row['Name']}".strip(): row for row in csv.DictReader(file)}


def locust_rounding_step(ms: float) -> float:
    """Locust stores response times rounded: 1 ms below 100, 10 below 1000, then 100."""
    if ms < 100:
        return 1.0
    if ms < 1000:
        return 10.0
    return 100.0


def hlog_by_endpoint(run_dir: Path) -> dict[str, Any]:
    """Merge ``latency.hlog`` into one histogram per endpoint (ok + fail) and per outcome."""
    from loadkit.rundir.hlog import decode_tag, new_histogram, read_log

    merged: dict[str, Any] = {}
    for interval in read_log(run_dir / "latency.hlog"):
        outcome, endpoint = decode_tag(interval.tag)
        for key in (endpoint, f"{outcome}:{endpoint}"):
            if key not in merged:
                merged[key] = new_histogram()
            merged[key].add(interval.histogram)
    return merged


def locust_json_stats(path: Path) -> dict[str, dict[str, Any]]:
    """Locust's final ``--json-file`` stats by ``"<method> <name>"``.

    (Locust's ``_stats.csv`` is rewritten once a second but not at shutdown, so its
    last rows can miss up to a second of requests; the JSON file is written at the end.)
    """
    import json

    entries = json.loads(Path(f"{path}.json").read_text())
    return {f"{e['method']} {e['name']}": e for e in entries}


def assert_run_matches_locust(run_dir: Path, json_prefix: Path) -> None:
    """Counts equal Locust's exactly; percentiles agree within Locust's rounding."""
    import json

    from locust.stats import calculate_response_time_percentile

    stats = locust_json_stats(json_prefix)
    merged = hlog_by_endpoint(run_dir)
    assert set(stats) == {key for key in merged if not key.startswith(("ok:", "fail:"))}
    requests = failures = 0
    for endpoint, entry in stats.items():
        histogram = merged[endpoint]
        assert histogram.get_total_count() == entry["num_requests"], endpoint
        failed = merged.get(f"fail:{endpoint}")
        assert (failed.get_total_count() if failed else 0) == entry["num_failures"], endpoint
        requests += entry["num_requests"]
        failures += entry["num_failures"]
        times = {int(ms): n for ms, n in entry["response_times"].items()}
        n = entry["num_requests"]
        for percentile in (0.5, 0.9, 0.95, 0.99, 1.0):
            ours_ms = histogram.get_value_at_percentile(percentile * 100) / 1000.0
            # Locust rounds each sample (1/10/100 ms steps) and ranks samples slightly
            # differently (int(n * p)), so ours must lie within one rank either side of
            # Locust's answer, widened by Locust's rounding step and HDR's 3 digits.
            low = calculate_response_time_percentile(times, n, max(0.0, percentile - 1.5 / n))
            high = calculate_response_time_percentile(times, n, min(1.0, percentile + 1.5 / n))
            slack_low = locust_rounding_step(low) + 0.001 * low
            slack_high = locust_rounding_step(high) + 0.001 * high
            assert low - slack_low <= ours_ms <= high + slack_high, (
                endpoint,
                percentile,
                ours_ms,
                low,
                high,
            )
    run = json.loads((run_dir / "run.json").read_text())
    assert run["totals"] == {"requests": requests, "failures": failures}
