"""A restart fault's window is the real outage, as an independent /health poller sees it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]

SCENARIO = """\
name: restart-window
target: builtin
users: {WorkspaceUser: 1}
stages:
  - {name: steady, duration: 12s, users: 2, spawn_rate: 2}
faults:
  - {name: gw-restart, at: 4s, kind: restart, via: process, target: gateway}
  - {name: agent-kill, at: 4s, for: 3s, kind: kill, via: process, target: agent}
checks:
  - count > 0
  - recovery(gw-restart) < 2m
  - recovery(gw-restart) < 100ms
"""
TIGHT = "recovery(gw-restart) < 100ms"  # shorter than any restart: the outage counts, so it fails


class HealthPoller(threading.Thread):
    """Polls GET /health every 10 ms; records (first refusal, first answer after it).

    Down means no process answers: the connection is refused or dropped. A slow
    answer (a process busy right after its start, on a loaded machine) is not
    an outage; it is waited for.
    """

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.outages: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        down_since: float | None = None
        with httpx.Client(timeout=5.0) as client:
            while not self.stop.is_set():
                now = time.time()
                try:
                    up = client.get(self.url).status_code == 200
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                    up = False
                except httpx.TimeoutException:
                    continue
                if not up and down_since is None:
                    down_since = now
                elif up and down_since is not None:
                    self.outages.append((down_since, time.time()))
                    down_since = None
                time.sleep(0.01)


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """One run: the fault events and what two independent /health pollers saw."""
    tmp_path = tmp_path_factory.mktemp("restart-window")
    scenario = tmp_path / "restart.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO))
    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    gateway = None
    for line in proc.stdout:
        lines.append(line)
        if match := re.search(r"target: gateway (http://\S+)", line):
            gateway = match.group(1)
            break
    assert gateway, "".join(lines)
    gw_poller = HealthPoller(f"{gateway}/health")
    gw_poller.start()
    data = re.search(r"data in (\S+)\)", "".join(lines))
    assert data, "".join(lines)
    manifest = json.loads((Path(data.group(1)) / "target.json").read_text())
    agent = manifest["agent"]["url"]
    agent_poller = HealthPoller(f"{agent}/health")
    agent_poller.start()
    rest = proc.stdout.read()
    code = proc.wait(timeout=240)
    gw_poller.stop.set()
    agent_poller.stop.set()
    output = "".join(lines) + rest
    assert code == 1, output  # the tight recovery check, and only it, fails (see below)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]

    def window(name: str) -> tuple[float, float]:
        inject = next(e for e in events if e["type"] == "fault_inject" and e["name"] == name)
        revert = next(e for e in events if e["type"] == "fault_revert" and e["name"] == name)
        return inject["t"], revert["t"]

    pollers = {"gw-restart": gw_poller, "agent-kill": agent_poller}
    return window, pollers, output, summary


@pytest.mark.parametrize("name", ["gw-restart", "agent-kill"])
def test_the_window_matches_an_independent_health_poller(observed, name):
    window, pollers, output, _ = observed
    poller = pollers[name]
    assert len(poller.outages) == 1, (name, poller.outages, output)
    (down, up) = poller.outages[0]
    start, end = window(name)
    assert abs(start - down) <= 0.5, (name, start, down)
    assert abs(end - up) <= 0.5, (name, end, up)
    assert end > start


def test_a_kill_for_3s_is_down_3s(observed):
    """for: 3s means down 3 s +- 0.5 s (the launcher starts it early by its usual start time)."""
    window, _, _, _ = observed
    start, end = window("agent-kill")
    assert abs((end - start) - 3.0) <= 0.5, end - start


def test_a_restart_outage_counts_against_its_recovery(observed):
    """recovery(restart) runs from the stop: never shorter than the outage the poller saw,
    so a limit shorter than the outage fails the run (exit 1) and a generous one passes."""
    window, pollers, output, summary = observed
    (down, up) = pollers["gw-restart"].outages[0]
    start, end = window("gw-restart")
    (recovery,) = [r for r in summary["recoveries"] if r["fault"] == "gw-restart"]
    assert recovery["measured_from"] == "inject", recovery
    # a kill with for: is an outage the scenario chose: measured from its end, as a pause
    (kill,) = [r for r in summary["recoveries"] if r["fault"] == "agent-kill"]
    assert kill["measured_from"] == "revert", kill
    assert recovery["recovery_s"] >= end - start, (recovery, end - start)
    assert recovery["recovery_s"] >= (up - down) - 0.5, (recovery, up - down)  # the witness
    assert up - down > 0.1  # the outage is longer than the tight limit
    verdicts = {v["expression"]: v["passed"] for v in summary["checks"]}
    assert verdicts == {"count > 0": True, "recovery(gw-restart) < 2m": True, TIGHT: False}, (
        verdicts,
        output,
    )
    assert re.search(rf"FAIL\s+{re.escape(TIGHT)}: ", output), output
    assert re.search(r"PASS\s+recovery\(gw-restart\) < 2m: ", output), output
