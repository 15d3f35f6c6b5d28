"""Hard kills while a fault is active: what is left behind, and for how long.

Each trial starts ``loadkit run`` on a tiny scenario with one long fault,
waits until the fault is journaled (active), then ``kill -9`` s ``loadkit
run`` itself, its Locust master, or both at once, and polls the world every
0.1 s:

* **faults left active**, looked at where they act: an app fault on an
  external ``loadkit target`` (``GET /admin/faults``), a toxic on an external
  ``loadkit proxy`` (``GET /proxies/NAME/toxics``), a paused process (its
  state), and for all kinds the entries left in the fault journal index;
* **processes left**: every process of the run's tree (snapshot just before
  the kill: target, proxy, master, workers, janitors), and for a kill of the
  master, ``loadkit run`` itself once it has written its report.

Kinds: ``app`` (app-latency), ``proxy`` (latency toxic), ``pause``
(SIGSTOP of a sleeper), ``kill`` (SIGKILL of the built-in gateway, revert
start). No manual step: nothing runs ``loadkit faults recover``.

    python bench/hard_kills.py [--kills 20] [--parallel 2] [--out FILE]

Prints one JSON object: per kind and victim the trials, and overall the
faults and processes left 5 s after the kill and the seconds until clean.
The test suite (tests/run/test_hard_kills.py) runs :func:`trial` too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("app", "proxy", "pause", "kill")
VICTIMS = ("run", "master", "both")
CLEAN_WITHIN_S = 5.0
START_TIMEOUT_S = 120.0
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]

SCENARIO = """\
name: hard-kill-{kind}
target: {target}
users: {{WorkspaceUser: 1}}
stages:
  - {{name: steady, duration: 60s, users: 1, spawn_rate: 1}}
faults:
  - {fault}
"""


@dataclass
class World:
    """Things outside the run that a fault acts on (they must be clean after a kill)."""

    target_url: str = ""
    proxy_api: str = ""
    proxy_name: str = "hk"
    sleeper_pid: int = 0

    def fault(self, kind: str) -> tuple[str, str]:
        """(the scenario's target, the fault line)."""
        if kind == "app":
            return self.target_url, (
                "{name: hk, at: 0s, for: 50s, kind: app-latency, via: http, latency: 10ms}"
            )
        if kind == "proxy":
            return self.target_url, (
                f"{{name: hk, at: 0s, for: 50s, kind: latency, via: proxy, latency: 10ms, "
                f"api: '{self.proxy_api}', proxy: {self.proxy_name}}}"
            )
        if kind == "pause":
            return self.target_url, (
                "{name: hk, at: 0s, for: 50s, kind: pause, via: process, "
                f"pid: {self.sleeper_pid}}}"
            )
        return "builtin", "{name: hk, at: 0s, for: 50s, kind: kill, via: process, target: agent}"

    def active(self, kind: str) -> bool:
        """True when the fault of ``kind`` still acts on the world."""
        if kind == "app":
            faults = httpx.get(f"{self.target_url}/admin/faults", timeout=5).json()
            return bool(faults.get("faults", faults) if isinstance(faults, dict) else faults)
        if kind == "proxy":
            url = f"{self.proxy_api}/proxies/{self.proxy_name}/toxics"
            return bool(httpx.get(url, timeout=5).json())
        if kind == "pause":
            return psutil.Process(self.sleeper_pid).status() == psutil.STATUS_STOPPED
        return False  # the built-in target lives and dies with its run


@contextlib.contextmanager
def world(tmp: Path) -> Iterator[World]:
    """An external target, a proxy in front of it, and a sleeper to pause."""
    from loadkit.proxy.client import ToxiproxyClient
    from loadkit.proxy.process import ProxyProcess
    from loadkit.target.launcher import start_target

    sleeper = subprocess.Popen(SLEEPER)
    try:
        with start_target(tmp / "world-target") as target, ProxyProcess() as proxy:
            upstream = target.url.removeprefix("http://")
            ToxiproxyClient(proxy.api_url).create_proxy("hk", "127.0.0.1:0", upstream)
            yield World(target.url, proxy.api_url, "hk", sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def _journal_entries(index: Path) -> int:
    count = 0
    for path in index.glob("*.journal"):
        with contextlib.suppress(OSError):
            count += sum(1 for line in path.read_text().splitlines() if line.strip())
    return count


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _master_of(run: psutil.Process) -> psutil.Process | None:
    for child in run.children():
        with contextlib.suppress(psutil.Error):
            cmdline = child.cmdline()
            if "locust" in cmdline and "--worker" not in cmdline:
                return child
    return None


@dataclass
class Trial:
    kind: str
    victim: str
    faults_left: int = 0  # 5 s after the kill: world + journal
    processes_left: int = 0  # 5 s after the kill
    clean_after_s: float | None = None  # None: not clean within the wait
    run_exit: int | None = None
    dirs_left: int = 0  # /tmp/loadkit-* folders of the run left once all is over
    details: list[str] = field(default_factory=list)


def trial(kind: str, victim: str, the_world: World, tmp: Path, workers: int = 0) -> Trial:
    """One run, one fault of ``kind``, one ``kill -9`` of ``victim``; see the module doc."""
    tmp.mkdir(parents=True, exist_ok=True)
    index = tmp / "index"
    target, fault = the_world.fault(kind)
    scenario = tmp / "hk.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO.format(kind=kind, target=target, fault=fault)))
    scratch = tmp / "tmpdir"  # the run's temp folders go here: none may be left
    scratch.mkdir(exist_ok=True)
    env = dict(os.environ, LOADKIT_FAULTS_INDEX=str(index), TMPDIR=str(scratch))
    argv = [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", str(tmp / "reports")]
    if workers:
        argv += ["--workers", str(workers)]
    log = (tmp / "run.log").open("wb")
    run = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    result = Trial(kind, victim)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _journal_entries(index) == 0:
            if run.poll() is not None or time.monotonic() > deadline:
                result.details.append(f"the fault never became active (run exit {run.poll()})")
                result.faults_left = result.processes_left = -1
                return result
            time.sleep(0.1)
        tree = psutil.Process(run.pid)
        members = [tree, *tree.children(recursive=True)]
        master = _master_of(tree)
        if master is None and victim != "run":
            result.details.append("no master found")
            result.faults_left = result.processes_left = -1
            return result
        killed = {"run": [tree], "master": [master], "both": [master, tree]}[victim]
        for process in killed:
            assert process is not None
            os.kill(process.pid, signal.SIGKILL)
        t_kill = time.monotonic()
        if victim != "master":
            run.wait()  # we are its parent: reap it, as a shell would
        watched = [m for m in members if m.pid != run.pid or victim != "master"]
        left_faults = left_procs = 0
        while True:
            now = time.monotonic() - t_kill
            left_faults = int(the_world.active(kind)) + _journal_entries(index)
            left_procs = sum(1 for m in watched if _alive(m.pid))
            if left_faults == 0 and left_procs == 0 and result.clean_after_s is None:
                result.clean_after_s = round(now, 2)
            if now >= CLEAN_WITHIN_S:
                break
            time.sleep(0.1)
        result.faults_left, result.processes_left = left_faults, left_procs
        if result.processes_left:
            result.details += [
                f"left: {m.pid} {' '.join(m.cmdline()[:6])}" for m in watched if _alive(m.pid)
            ]
        if victim == "master":  # loadkit run writes the report of what was measured, then ends
            with contextlib.suppress(subprocess.TimeoutExpired):
                result.run_exit = run.wait(120)
            stragglers = [m for m in members if _alive(m.pid)]
            result.processes_left += len(stragglers)
            result.details += [f"after run exit: {m.pid}" for m in stragglers]
        else:
            result.run_exit = run.returncode
        time.sleep(0.5)  # the janitor may still be removing them
        left = sorted(p.name for p in scratch.iterdir() if p.name.startswith("loadkit-"))
        result.dirs_left = len(left)
        result.details += [f"dir left: {name}" for name in left]
        return result
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        log.close()


def run_trials(kills: int, parallel: int, tmp: Path) -> list[Trial]:
    plan = [
        (KINDS[i % len(KINDS)], VICTIMS[(i // len(KINDS)) % len(VICTIMS)]) for i in range(kills)
    ]
    results: list[Trial] = []
    lock = threading.Lock()
    with world(tmp) as the_world, ThreadPoolExecutor(max_workers=parallel) as pool:
        # a world has one sleeper / one proxy / one target: one trial per kind at a time
        kind_locks = {kind: threading.Lock() for kind in KINDS}

        def one(i: int, kind: str, victim: str) -> None:
            with kind_locks[kind]:
                result = trial(kind, victim, the_world, tmp / f"trial-{i:02d}")
            with lock:
                results.append(result)
                print(json.dumps(asdict(result)), file=sys.stderr, flush=True)

        list(pool.map(lambda a: one(*a), [(i, k, v) for i, (k, v) in enumerate(plan)]))
    return results


def summary(results: list[Trial]) -> dict[str, Any]:
    cleans = [r.clean_after_s for r in results if r.clean_after_s is not None]
    return {
        "kills": len(results),
        "faults_left_after_5s": sum(max(r.faults_left, 0) for r in results),
        "processes_left_after_5s": sum(max(r.processes_left, 0) for r in results),
        "trials_not_clean_within_5s": sum(1 for r in results if r.clean_after_s is None),
        "temp_dirs_left": sum(r.dirs_left for r in results),
        "seconds_until_clean": {
            "median": round(statistics.median(cleans), 2) if cleans else None,
            "max": max(cleans) if cleans else None,
        },
        "by_kind": {
            kind: {
                victim: [
                    {
                        "faults_left": r.faults_left,
                        "processes_left": r.processes_left,
                        "clean_after_s": r.clean_after_s,
                        "run_exit": r.run_exit,
                    }
                    for r in results
                    if r.kind == kind and r.victim == victim
                ]
                for victim in VICTIMS
            }
            for kind in KINDS
        },
        "problems": [f"{r.kind}/{r.victim}: {d}" for r in results for d in r.details],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="hard-kills-") as tmp:
        results = run_trials(args.kills, args.parallel, Path(tmp))
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        "command": " ".join(["python", "bench/hard_kills.py", *sys.argv[1:]]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.time() - started, 1),
        **summary(results),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
