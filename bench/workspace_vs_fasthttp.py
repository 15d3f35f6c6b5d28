"""WorkspaceUser's HTTP cost versus a plain FastHttpUser making the same calls.

Both variants run echo jobs against the real reference target (started here on
127.0.0.1): ``POST /execute``, ``GET /status/{id}`` every ``--poll`` seconds
until terminal, ``GET /responses/{id}``, with ``--users`` users and no think
time, and both import ``loadkit.locust`` (the plugin's own cost is
bench/plugin_overhead.py's figure):

* ``plain``: a bare FastHttpUser doing exactly these calls, no checks;
* ``workspace``: ``locustfiles/workspace.py`` with ``--job-tasks echo``
  (catch_response checks, output verification, the ``JOB echo`` event).

Runs are interleaved A B A B ...; each is a local Locust process with its web
UI on 127.0.0.1. After a warm-up the script reads the HTTP request count
(``/stats/requests``; ``JOB`` events excluded) and the Locust process's CPU
time twice, ``--window`` seconds apart: requests/s per core = requests / CPU
seconds. Prints one JSON object: the median of the per-pair ratios
workspace/plain (aim: >= 0.95) and the medians of each variant.

    .venv/bin/python bench/workspace_vs_fasthttp.py [--rounds 5] [--window 5]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from loadkit.target.launcher import start_target

ROOT = Path(__file__).resolve().parents[1]
LOCUST = str(Path(sys.executable).with_name("locust"))

PLAIN = """
import time
import uuid

from locust import FastHttpUser, constant, task

import loadkit.locust  # noqa: F401

TERMINAL = {{"completed", "failed", "timeout", "interrupted"}}


class PlainJobUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.workspace = f"plain-{{uuid.uuid4().hex[:8]}}"

    @task
    def echo(self):
        body = {{"workspace": self.workspace, "command": "echo hello " + uuid.uuid4().hex}}
        request_id = self.client.post("/execute", json=body, name="/execute").json()["request_id"]
        while True:
            status = self.client.get(f"/status/{{request_id}}", name="/status/[id]").json()
            if status["state"] in TERMINAL:
                break
            time.sleep({poll})
        self.client.get(f"/responses/{{request_id}}", name="/responses/[id]").json()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stats(web: str) -> dict[str, Any]:
    with urllib.request.urlopen(web + "/stats/requests", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _http_requests(stats: dict[str, Any]) -> int:
    return sum(
        int(s["num_requests"])
        for s in stats["stats"]
        if s["name"] != "Aggregated" and s["method"] in ("GET", "POST")
    )


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(
    args: list[str], host: str, workdir: Path, users: int, warmup: float, window: float
) -> dict[str, float]:
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    cmd = [
        LOCUST, *args, "--autostart", "-u", str(users), "-r", str(users), "-H", host,
        "--web-host", "127.0.0.1", "--web-port", str(port),
        "--loadkit-out", str(workdir / "reports"),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process = psutil.Process(proc.pid)
        deadline = time.monotonic() + 90
        while True:
            try:
                stats = _stats(web)
                if stats.get("user_count") == users and _http_requests(stats) > 0:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise TimeoutError(f"Locust did not start: {' '.join(cmd)}")
            time.sleep(0.2)
        time.sleep(warmup)
        n1, cpu1, t1 = _http_requests(_stats(web)), _cpu_seconds(process), time.monotonic()
        time.sleep(window)
        n2, cpu2, t2 = _http_requests(_stats(web)), _cpu_seconds(process), time.monotonic()
        failures = sum(int(s["num_failures"]) for s in _stats(web)["stats"])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
    return {
        "per_core": (n2 - n1) / max(cpu2 - cpu1, 1e-9),
        "rps": (n2 - n1) / (t2 - t1),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="A/B pairs (default 5)")
    parser.add_argument("--users", type=int, default=8, help="users per run (default 8)")
    parser.add_argument("--poll", type=float, default=0.02, help="status poll interval, s")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured per run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loadkit-bench-ws-") as tmp:
        workdir = Path(tmp)
        plain = workdir / "plain.py"
        plain.write_text(PLAIN.format(poll=args.poll))
        variants = {
            "plain": ["-f", str(plain)],
            "workspace": [
                "-f", str(ROOT / "locustfiles" / "workspace.py"), "--job-tasks", "echo",
                "--job-wait", "0", "--job-poll-interval", str(args.poll),
            ],
        }  # fmt: skip
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        with start_target(workdir / "target", concurrency=8) as target:
            for _ in range(args.rounds):
                for name, variant_args in variants.items():
                    results[name].append(
                        measure(variant_args, target.url, workdir, args.users, args.warmup,
                                args.window)
                    )  # fmt: skip

    ratios = [
        w["per_core"] / p["per_core"]
        for w, p in zip(results["workspace"], results["plain"], strict=True)
    ]

    def median(name: str, key: str) -> float:
        return round(statistics.median(r[key] for r in results[name]), 1)

    print(
        json.dumps(
            {
                "figure": "workspace_vs_fasthttp",
                "ratio_median": round(statistics.median(ratios), 3),
                "ratios": [round(r, 3) for r in ratios],
                "plain_req_per_core_s": median("plain", "per_core"),
                "workspace_req_per_core_s": median("workspace", "per_core"),
                "plain_rps": median("plain", "rps"),
                "workspace_rps": median("workspace", "rps"),
                "failures": sum(r["failures"] for rs in results.values() for r in rs),
                "rounds": args.rounds,
                "users": args.users,
                "window_s": args.window,
            }
        )
    )


if __name__ == "__main__":
    main()
