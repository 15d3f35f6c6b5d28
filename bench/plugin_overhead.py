"""Cost of the loadkit plugin on Locust's hot path: requests/s per core, with vs without.

A FastHttpUser locustfile (10 users, no wait) hits a local nginx (`apt-get
install -y nginx-light`) in two variants, run interleaved A B A B ...:

* ``bare``: plain Locust;
* ``loadkit``: the same file plus ``import loadkit.locust`` (run dir, interval
  histograms, events, resource sampling).

Each run is a local Locust process with its web UI on 127.0.0.1; after a warm-up
the script reads the request count (``/stats/requests``) and the process's CPU
time twice, ``--window`` seconds apart. requests/s per core = requests / CPU
seconds of the Locust process in that window (the machine is shared, so CPU time
is a fairer base than wall time). Prints one JSON object with the medians and
their ratio (aim: >= 0.95).

    .venv/bin/python bench/plugin_overhead.py [--rounds 5] [--window 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

LOCUST = str(Path(sys.executable).with_name("locust"))
USERS = 10
LOG = None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL

LOCUSTFILE = """
from locust import FastHttpUser, constant, task
{plugin}

class Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def hit(self):
        self.client.get("/{path}")
"""

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def start_nginx(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """nginx on a free 127.0.0.1 port answering 200 "ok" to everything."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is not installed: apt-get install -y nginx-light")
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port))
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(workdir)])
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


def stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


METRICS_ONLY = """
from locust import events
from loadkit.metrics import plugin as _metrics
from loadkit.plugin.context import plugin_context
events.init_command_line_parser.add_listener(_metrics.add_arguments)
events.init.add_listener(lambda environment, **_kw: _metrics.attach(plugin_context(environment)))
"""


def write_locustfile(workdir: Path, variant: str) -> Path:
    plugin = {
        "bare": "",
        "loadkit": "import loadkit.locust  # noqa: F401",
        "metrics": METRICS_ONLY,
    }[variant]
    path = workdir / f"bench_{variant}.py"  # not "loadkit.py": it would shadow the package
    path.write_text(LOCUSTFILE.format(plugin=plugin, path=""))
    return path


def _stats(web: str) -> dict[str, Any]:
    with urllib.request.urlopen(web + "/stats/requests", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def _total_requests(stats: dict[str, Any]) -> int:
    return sum(int(s["num_requests"]) for s in stats["stats"] if s["name"] == "Aggregated")


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(
    variant: str, locustfile: Path, host: str, workdir: Path, warmup: float, window: float
) -> dict[str, float]:
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    args = [
        LOCUST, "-f", str(locustfile), "--autostart", "-u", str(USERS), "-r", str(USERS),
        "-H", host, "--web-host", "127.0.0.1", "--web-port", str(port),
        "--loadkit-out", str(workdir / "reports"),
    ]  # fmt: skip
    if variant == "bare":
        args = args[:-2]
    proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=LOG)
    try:
        process = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while True:
            try:
                stats = _stats(web)
                if stats.get("user_count") == USERS and _total_requests(stats) > 0:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{variant}: Locust did not start")
            time.sleep(0.2)
        time.sleep(warmup)
        n1, cpu1, t1 = _total_requests(_stats(web)), _cpu_seconds(process), time.monotonic()
        time.sleep(window)
        n2, cpu2, t2 = _total_requests(_stats(web)), _cpu_seconds(process), time.monotonic()
    finally:
        stop_process(proc)
    return {"per_core": (n2 - n1) / max(cpu2 - cpu1, 1e-9), "rps": (n2 - n1) / (t2 - t1)}


def hot_path_ns(calls: int = 200_000, repeats: int = 7) -> float:
    """Median extra ns per ``request`` event fire with loadkit's counter listening."""
    from locust.event import EventHook

    from loadkit.metrics.intervals import IntervalCounter

    event = dict(
        request_type="GET", name="/", response_length=2, response=None, context={},
        exception=None, start_time=0.0, url="/",
    )  # fmt: skip
    bare, listened = EventHook(), EventHook()
    counter = IntervalCounter()
    counter.enabled = True
    listened.add_listener(counter.on_request)
    extra = []
    for _ in range(repeats):
        costs = []
        for hook in (bare, listened):
            start = time.perf_counter()
            for i in range(calls):
                hook.fire(response_time=1.0 + (i % 997) * 0.37, **event)
            costs.append((time.perf_counter() - start) / calls * 1e9)
        extra.append(costs[1] - costs[0])
        counter.swap()
    return statistics.median(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="A/B pairs (default 5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured per run")
    parser.add_argument(
        "--metrics-only",
        action="store_true",
        help="also run a third variant wiring only loadkit.metrics (not scenario/faults)",
    )
    args = parser.parse_args()
    variants = ["bare", "loadkit"] + (["metrics"] if args.metrics_only else [])

    with tempfile.TemporaryDirectory(prefix="loadkit-bench-") as tmp:
        workdir = Path(tmp)
        nginx, host = start_nginx(workdir)
        try:
            files = {v: write_locustfile(workdir, v) for v in variants}
            results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                for variant in variants:
                    results[variant].append(
                        measure(variant, files[variant], host, workdir, args.warmup, args.window)
                    )
        finally:
            stop_process(nginx)

    def median(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in results[variant])

    bare, plugin = median("bare", "per_core"), median("loadkit", "per_core")
    print(
        json.dumps(
            {
                "figure": "plugin_overhead",
                "users": USERS,
                "rounds": args.rounds,
                "window_s": args.window,
                "bare_req_per_cpu_s_median": round(bare),
                "loadkit_req_per_cpu_s_median": round(plugin),
                "ratio_of_medians": round(plugin / bare, 3),
                **(
                    {
                        "metrics_only_ratio_of_medians": round(
                            median("metrics", "per_core") / bare, 3
                        )
                    }
                    if args.metrics_only
                    else {}
                ),
                "hot_path_ns_per_request_median": round(hot_path_ns()),
                "bare_rps_median": round(median("bare", "rps")),
                "loadkit_rps_median": round(median("loadkit", "rps")),
                "per_core_runs": {
                    v: [round(r["per_core"]) for r in rs] for v, rs in results.items()
                },
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
