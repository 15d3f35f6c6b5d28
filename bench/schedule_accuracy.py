"""How late the fault schedule injects and reverts, over real short Locust runs.

Each run: a local Locust (10 users hammering a loopback HTTP server) with 12
faults: 8 process pauses of throw-away sleeper processes and 4 latency toxics
through a real ``loadkit proxy``, planned 0.5 s apart, each for 0.3 s.
``late_ms`` comes from the ``fault_inject`` and scheduled ``fault_revert``
events (planned instant → backend call returned, monotonic clock). Prints one
JSON object (medians over all faults of all runs).

    .venv/bin/python bench/schedule_accuracy.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "tests" / "faults" / "faults_locustfile.py"
SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_run(work: Path, proxy_api: str, proxy_listen: str) -> tuple[list[float], list[float]]:
    sleepers = [subprocess.Popen(SLEEPER) for _ in range(8)]
    try:
        faults: list[dict[str, object]] = []
        pids = iter(proc.pid for proc in sleepers)
        for i in range(12):
            fault: dict[str, object] = {"name": f"f{i}", "at": 1.0 + 0.5 * i, "for": 0.3}
            if i % 3 == 2:
                fault.update(kind="latency", latency="20ms", proxy="bench")
            else:
                fault.update(kind="pause", pid=next(pids))
            faults.append(fault)
        plan = work / "plan.yaml"
        plan.write_text(json.dumps({"faults": faults}))
        run_dir = work / "run"
        env = dict(
            os.environ,
            LOADKIT_TEST_RUN_DIR=str(run_dir),
            LOADKIT_FAULTS_INDEX=str(work / "index"),
            LOADKIT_TEST_WAIT="0.01",
        )
        cmd = [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            "10",
            "-r",
            "100",
            "-t",
            "12s",
            "--host",
            f"http://{proxy_listen}",
            "--loadkit-faults",
            str(plan),
            "--loadkit-proxy-api",
            proxy_api,
            "--only-summary",
        ]
        with open(work / "locust.log", "wb") as log:
            subprocess.run(cmd, env=env, stdout=log, stderr=log, timeout=120, check=False)
        if os.environ.get("BENCH_DEBUG"):
            text = (work / "locust.log").read_text()
            print(
                [ln for ln in text.splitlines() if "/INFO/" in ln or "ERROR" in ln], file=sys.stderr
            )
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    finally:
        for proc in sleepers:
            proc.kill()
            proc.wait()
    injects = {e["name"]: e for e in events if e["type"] == "fault_inject"}
    inject_late = [e["late_ms"] for e in injects.values()]
    if os.environ.get("BENCH_DEBUG"):
        print([(e["name"], e["kind"], e["late_ms"]) for e in injects.values()], file=sys.stderr)
        print([e for e in events if e["type"] in ("fault_error", "run_stop")], file=sys.stderr)
    revert_late = [
        e["late_ms"] for e in events if e["type"] == "fault_revert" and e["reason"] == "scheduled"
    ]
    return inject_late, revert_late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from loadkit.proxy.client import ToxiproxyClient
    from loadkit.proxy.process import ProxyProcess

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    inject_late: list[float] = []
    revert_late: list[float] = []
    try:
        wait_listening(port)
        with ProxyProcess() as proxy, ToxiproxyClient(proxy.api_url) as client:
            listen = client.create_proxy("bench", "127.0.0.1:0", f"127.0.0.1:{port}")["listen"]
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory() as tmp:
                    inj, rev = one_run(Path(tmp), proxy.api_url, listen)
                inject_late += inj
                revert_late += rev
    finally:
        server.kill()
        server.wait()
    print(
        json.dumps(
            {
                "figure": "fault schedule lateness (ms), planned instant to backend call returned",
                "runs": args.runs,
                "faults_planned": 12 * args.runs,
                "faults_injected": len(inject_late),
                "inject_late_ms_median": round(statistics.median(inject_late), 2),
                "inject_late_ms_p95": round(percentile(inject_late, 0.95), 2),
                "inject_late_ms_max": round(max(inject_late), 2),
                "revert_late_ms_median": round(statistics.median(revert_late), 2),
                "revert_late_ms_max": round(max(revert_late), 2),
                "within_50ms": sum(v <= 50 for v in inject_late) / len(inject_late),
                "load": "10 users, 10 ms wait, through loadkit proxy, local runner",
            }
        )
    )


if __name__ == "__main__":
    main()
