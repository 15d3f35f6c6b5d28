"""``loadkit run``: validate a scenario, start the target, run Locust, report.

    loadkit run                                  # scenarios/quickstart.yaml
    loadkit run scenarios/x.yaml --users 20 --duration 1m
    loadkit run scenarios/x.yaml --web           # Locust's web UI on 127.0.0.1
    loadkit run scenarios/x.yaml --workers 2     # a master and 2 worker processes

Order of work: everything the user wrote is validated first (exit 2, one line,
nothing started); then the built-in target (``target: builtin``, in a
temporary data folder), the fault proxy and Locust (child processes with the
loadkit plugin: ``--loadkit-scenario/-faults/-out``) start in parallel, Locust
held at its start gate until the target answers; after the load the reporter
analyses the run directory while the target stops. Exit code: the reporter's
(0 pass, 1 checks failed); 2 bad input; 3 when the run could not be carried
out; 130 after Ctrl-C / SIGTERM, which still stop Locust gracefully (faults
revert), stop the target and write the report of what was measured.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from loadkit.errors import (
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
)
from loadkit.faults.journal import RUN_PID_ENV, RUN_PROXY_API_ENV, RUN_TARGET_INFO_ENV
from loadkit.run.locust import LocustCommand, LocustProcesses
from loadkit.run.plan import RunPlan, make_plan
from loadkit.run.progress import ProgressPrinter, find_new_run_dirs
from loadkit.run.proxy import spawn_proxy
from loadkit.run.target import BuiltinTarget
from loadkit.run.warmup import REPORT_MODULES, ReporterImports, import_reporter
from loadkit.rundir.layout import REPORT_HTML
from loadkit.safety.janitor import Janitor
from loadkit.scenario.model import Scenario

__all__ = ["REPORT_MODULES", "RunPlan", "import_reporter", "make_plan", "register", "run_command"]

DESCRIPTION = """\
Run a scenario: validate it, start the built-in target (target: builtin) and,
for proxy faults, the fault proxy; run Locust with the loadkit plugin; then
write the report of the run directory.

  loadkit run                                  # scenarios/quickstart.yaml
  loadkit run scenarios/x.yaml --users 20 --duration 1m
  loadkit run scenarios/x.yaml --web           # Locust's web UI on 127.0.0.1
  loadkit run scenarios/x.yaml --workers 2     # a master and 2 worker processes

exit codes: 0 checks passed, 1 a check failed, 2 bad input (nothing started),
3 the run could not be carried out, 130 stopped by Ctrl-C/SIGTERM (reported;
a second Ctrl-C kills Locust at once)."""
OVERRUN_GRACE_S = 60.0  # how long Locust may run past the planned end before it is stopped
STATUS_EVERY_S = 5.0  # a status line this often in a headless run
# a quiet headless console: no stats tables (loadkit prints its own summary) and no INFO
# logs (Locust's "Ramping..." lines, httpx's line per call): without Locust's log set-up
# only warnings and errors reach the console (Python's last-resort handler, on stderr)
QUIET_LOCUST_ARGS = ["--only-summary", "--skip-log-setup"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a scenario: start the target, load it, inject faults, report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario", nargs="?", help="scenario file (default: scenarios/quickstart.yaml)"
    )
    parser.add_argument(
        "--users", type=int, help="replace the load with N users (one constant stage)"
    )
    parser.add_argument("--spawn-rate", type=float, help="users started per second (with --users)")
    parser.add_argument("--duration", help="length of the run with --users, e.g. 30s or 2m")
    parser.add_argument("--target", help="override the scenario's target: 'builtin' or a URL")
    parser.add_argument(
        "--web", action="store_true", help="Locust's web UI on 127.0.0.1 instead of headless"
    )
    parser.add_argument("--web-port", type=int, default=8089, help="web UI port (default 8089)")
    parser.add_argument(
        "--workers", type=int, default=0, help="run a master and N worker processes"
    )
    parser.add_argument(
        "--out", default="reports", help="folder for run directories (default reports/)"
    )
    parser.add_argument("--baseline", help="baseline to compare with (overrides the scenario's)")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also Locust's periodic stats tables and INFO logs (default: one status line "
        f"every {STATUS_EVERY_S:g}s)",
    )
    parser.set_defaults(func=run_command)


class _Signals:
    """Turns SIGINT / SIGTERM into flags the run loop reads (restored on exit)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.count = 0  # a second signal means: stop waiting, kill Locust now
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum
        self.count += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Signals]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for signum in (int(signal.SIGINT), int(signal.SIGTERM)):
            self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)


def _say(message: str) -> None:
    print(f"loadkit: {message}", flush=True)


def _wait(locust: LocustProcesses, plan: RunPlan, signals: _Signals) -> str:
    """Wait for Locust to end; returns 'done', 'interrupted', 'killed' or 'overrun'."""
    outcome = "done"
    deadline = (
        None if plan.planned_s is None else time.monotonic() + plan.planned_s + OVERRUN_GRACE_S
    )
    if plan.workers and deadline is not None:
        deadline += 60.0  # workers may take a while to connect on a loaded machine
    while locust.returncode is None:
        if signals.received is not None and outcome == "done":
            outcome = "interrupted"
            _say(f"{signal.Signals(signals.received).name}: stopping Locust (faults revert)...")
            locust.stop()
        if deadline is not None and time.monotonic() > deadline and outcome == "done":
            outcome = "overrun"
            _say(
                f"Locust is still running {OVERRUN_GRACE_S:.0f}s after the planned end; stopping it"
            )
            locust.stop()
        if signals.count >= 2 and outcome == "interrupted":
            outcome = "killed"
            _say("second signal: killing Locust (faults are reverted by 'loadkit faults recover')")
            locust.kill()
        if locust.kill_if_overdue():
            _say("Locust did not stop in time; killed it")
        locust.wait(0.1)  # returns as soon as Locust ends (signals are still seen every 0.1 s)
    locust.finish()
    return outcome


def _report(run_dir: Path, baseline: Path | None) -> int:
    """``loadkit report RUN_DIR`` in this process (its imports were made during the run)."""
    argv = ["report", str(run_dir)]
    if baseline is not None:
        if baseline.exists():
            argv += ["--baseline", str(baseline)]
        else:
            _say(
                f"baseline {baseline} does not exist yet; no regression gate "
                f"(save one with: loadkit baseline save {run_dir} NAME)"
            )
    from loadkit.cli import main

    try:
        return main(argv)
    except Exception:  # a reporter bug: say so, the run is not judged (never a pass)
        traceback.print_exc()
        return EXIT_RUN_FAILED


def _audit(run_dir: Path, service_url: str, scenario: Scenario, outcome: str) -> None:
    """The loss audit of the accepted work (``audit.json``; "not audited" says why not)."""
    from loadkit.audit.audit import not_audited
    from loadkit.audit.cli import audit_run
    from loadkit.report.servicechecks import parse_service_check

    checks = [parse_service_check(expression) for expression in scenario.checks]
    if not scenario.audit.requested and not any(c and c.form == "audit" for c in checks):
        return  # nobody asked: no audit (``loadkit audit RUN_DIR`` can still do it)
    if outcome != "done":
        not_audited(run_dir, f"the run was {outcome}", service_url)
        return
    _say(f"audit: asking {service_url} about the accepted work (<= {scenario.audit.deadline_s:g}s)")
    try:
        audit_run(run_dir, service_url, scenario.audit)
    except Exception as exc:  # the audit must not lose the report of the run
        not_audited(run_dir, f"the audit failed: {type(exc).__name__}: {exc}", service_url)


def _recover_left_by_locust() -> None:
    """Faults a killed master left in the journal: reverted now, or closed with a note.

    Their subjects (the built-in target, the fault proxy) are ours and stop
    with this run right after, so one that cannot be reverted is closed.
    """
    from loadkit.faults.journal import recover

    for result in recover(run_pid=os.getpid()):
        if result.note:
            _say(f"fault {result.name} ({result.kind}) closed: {result.note}")
        elif result.ok:
            _say(f"fault {result.name} ({result.kind}) left by Locust: reverted")
        else:
            _say(f"fault {result.name} ({result.kind}) left by Locust: {result.error}")


def _report_run(run_dir: Path, baseline: Path | None) -> int:
    """Write ``run_dir``'s report and say where; returns the reporter's exit code."""
    code = _report(run_dir, baseline)
    report = run_dir / REPORT_HTML
    if report.exists():
        _say(f"report: {report}")
    return code


def execute(plan: RunPlan) -> int:
    """Run a validated plan; returns the exit code."""
    scenario = plan.scenario
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in plan.out_dir.iterdir()}
    length = f"{plan.planned_s:g}s" if plan.planned_s else "until stopped"
    _say(
        f"scenario '{scenario.name}' ({scenario.source}): {length}, "
        f"{len(scenario.faults)} fault(s), {len(scenario.checks)} check(s)"
    )
    janitor = Janitor().start()  # removes our temp folders if we are killed
    target = None
    try:
        if plan.target == "builtin":  # starts now, beside the proxy and Locust
            target = BuiltinTarget(scenario.target_options, janitor)
        return _execute(plan, target, janitor, before)
    finally:  # the target stops while the report is written; we end once it has
        if target is not None and target.wait_stopped():
            _say("target stopped")
        janitor.cancel()  # a no-op when done already (one thread at a time: the stop is joined)


def _execute(
    plan: RunPlan, target: BuiltinTarget | None, janitor: Janitor, before: set[str]
) -> int:
    """The run itself; the target (already starting) stops in the background at its end."""
    scenario = plan.scenario
    signals = _Signals()
    importer = ReporterImports()
    with contextlib.ExitStack() as stack:
        # last, after Locust, the proxy and the scratch folder: the janitor's work is done
        # once the temp folders are gone (not after the report: a killed master must leave
        # nothing behind while the report is written)
        if target is not None:
            stack.callback(target.stop_in_background, janitor.cancel)
        else:
            stack.callback(janitor.cancel)
        stack.enter_context(signals.installed())
        host = plan.target if target is None else target.url
        target_info = None if target is None else target.info
        service_url = host  # the audit asks the service itself, not through the fault proxy
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadkit-run-")))
        janitor.tell("remove", str(scratch))
        extra: list[str] = []
        owned = {RUN_PID_ENV: str(os.getpid())}
        if target_info is not None:
            owned[RUN_TARGET_INFO_ENV] = str(target_info)
        proxy_ready: Callable[[], None] | None = None
        if plan.proxy and target is not None:  # starts beside the target and Locust
            proxy, proxy_ready = stack.enter_context(spawn_proxy(host, scratch))
            host, extra = proxy.url, proxy.locust_args()
            owned[RUN_PROXY_API_ENV] = proxy.api_url
        quiet = not plan.web and not plan.verbose
        if quiet:
            extra = [*extra, *QUIET_LOCUST_ARGS]
        command = LocustCommand(
            scenario=scenario,
            host=host,
            out_dir=plan.out_dir,
            target_info=target_info,
            users=plan.users,
            spawn_rate=plan.spawn_rate,
            duration_s=plan.duration_s,
            web=plan.web,
            web_port=plan.web_port,
            workers=plan.workers,
            extra_args=extra,
            start_gate=None if target is None else scratch / "target-ready",
        )
        locust = LocustProcesses(command, scratch, env=owned)

        def _audit_and_report(run_dir: Path) -> int:
            importer.report_begins()
            _audit(run_dir, service_url, scenario, "done")  # a test ended by Stop: audit it
            return _report_run(run_dir, plan.baseline)

        progress = ProgressPrinter(
            lambda: find_new_run_dirs(plan.out_dir, before, scenario.name),
            # web UI: every test gets its report when it stops (Stop, --run-time)
            on_finished=_audit_and_report if plan.web else None,
            planned_s=plan.planned_s,
            status_every_s=None if plan.web else STATUS_EVERY_S,
        )
        if signals.received is not None:
            _say("interrupted before Locust started")
            return EXIT_INTERRUPTED
        try:
            locust.start()  # its imports overlap the target's start; it waits at the gate
            if target is not None:
                target.wait_ready()
                _say(f"target: gateway {target.url} (built-in, data in {target.data_dir})")
            if proxy_ready is not None:
                proxy_ready()
                _say(f"fault proxy: {proxy.url} -> {service_url} (API {proxy.api_url})")
            if signals.received is not None:
                _say("interrupted before the load started")
                return EXIT_INTERRUPTED
            if command.start_gate is not None:
                command.start_gate.touch()
            if plan.web:
                _say(
                    f"web UI: http://127.0.0.1:{plan.web_port} "
                    "(Ctrl-C ends the run, writes the report)"
                )
            progress.start()
            importer.start()  # during the load, not competing with the start for the CPU
            outcome = _wait(locust, plan, signals)
        finally:
            locust.kill()
            locust.finish()
            progress.stop()
        for problem in locust.worker_problems():
            _say(problem)
        locust_code = locust.returncode
        _recover_left_by_locust()  # while the target still runs (a killed master left them)
        done = dict(progress.report_codes)  # web UI: audited and reported as each test ended
        for run_dir in progress.run_dirs or find_new_run_dirs(plan.out_dir, before, scenario.name):
            if run_dir not in done:  # audited while the target is still up
                _audit(run_dir, service_url, scenario, outcome)
    run_dirs = progress.run_dirs or find_new_run_dirs(plan.out_dir, before, scenario.name)
    if not run_dirs:
        _say(f"Locust ended (exit {locust_code}) without a run directory in {plan.out_dir}")
        return EXIT_INTERRUPTED if outcome in ("interrupted", "killed") else EXIT_RUN_FAILED
    importer.report_begins()  # a warm-up under way ends first; one not begun never begins
    codes = dict(progress.report_codes)
    for run_dir in run_dirs:  # the runs not reported yet (headless: the one run, now complete)
        if run_dir not in codes:
            codes[run_dir] = _report_run(run_dir, plan.baseline)
    report_code = max(codes.values())  # 0 pass < 1 a check failed < 2, 3 could not report
    if outcome in ("interrupted", "killed"):
        return EXIT_INTERRUPTED
    if outcome == "overrun" or locust_code not in (0, None) or report_code not in (0, 1):
        _say(f"the run was not carried out (Locust exit {locust_code}, report {report_code})")
        return EXIT_RUN_FAILED
    return report_code


def run_command(args: argparse.Namespace) -> int:
    return execute(make_plan(args))
