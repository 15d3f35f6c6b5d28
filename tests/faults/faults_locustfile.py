"""A locustfile for the fault tests: the faults plugin with a small file recorder.

It wires only the faults part (metrics may not exist yet): ``LOADKIT_TEST_RUN_DIR``
names the run dir where events.jsonl is written. Each request is named after
the faults active when it started, so Locust's own stats show per-window timings.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from locust import HttpUser, constant, events, task
from locust.runners import WorkerRunner

from loadkit.faults import plugin as faults_plugin
from loadkit.plugin.context import plugin_context


class _Recorder:
    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def current_run_dir(self) -> Path:
        return self.run_dir

    def event(self, type: str, **fields) -> None:
        with open(self.run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"t": time.time(), "type": type, **fields}) + "\n")


@events.init_command_line_parser.add_listener
def _add_arguments(parser, **_kwargs) -> None:
    faults_plugin.add_arguments(parser)


@events.init.add_listener
def _on_init(environment, **_kwargs) -> None:
    busy_until = time.monotonic() + float(os.environ.get("LOADKIT_TEST_BLOCK_INIT", "0"))
    while time.monotonic() < busy_until:
        pass  # CPU-bound start-up work that never yields to gevent (like heavy imports)
    run_dir = os.environ.get("LOADKIT_TEST_RUN_DIR")
    worker = isinstance(environment.runner, WorkerRunner)
    context = plugin_context(environment)
    context.recorder = _Recorder(run_dir) if run_dir and not worker else None
    faults_plugin.attach(context)


_seen: set[str] = set()


class Pinger(HttpUser):
    """Names each request after the active faults, or ``after`` once a fault was reverted."""

    wait_time = constant(float(os.environ.get("LOADKIT_TEST_WAIT", "0.05")))

    @task
    def ping(self) -> None:
        active = faults_plugin.active_faults()
        _seen.update(active)
        tag = ",".join(sorted(active)) or ("after" if _seen else "none")
        path = os.environ.get("LOADKIT_TEST_PATH", "/")
        timeout = float(os.environ.get("LOADKIT_TEST_TIMEOUT", "30"))
        self.client.get(path, name=f"GET {path} [{tag}]", timeout=timeout)
