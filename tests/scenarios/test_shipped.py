"""The shipped scenarios (issue 11): each runs green shortened, and its twins fail as named.

Every run here is derived from ``scenarios/NAME.yaml`` by :func:`shipped_support.derive`:
only the stages, the fault times and the audit's deadline are shortened (``SHORT``);
faults, probes and checks are the file's. A twin is the same derived file with one
``break_*`` target option on; it must fail exactly the checks that name the broken
behaviour (one, or two that say it two ways: the breaker is open / opened at its
threshold; results waited in the outbox / came on a retry), in ``summary.json`` and in
``junit.xml``, every time. A green run and its twins go side by side, each with its own
target, so each target gets the load its scenario was written for; together they use
less than one of two cores, and side by side at load average 5-10 every latency, rate
and window check read the same as alone, far inside its limit (measured 2026-12-01).

The profile runs aim a scenario at the small independent service of its dialect
(``tests/users/services/``) through its profile, keeping the faults and checks that
service can carry (see each ``*_edit``). breaker-health and session-queues have none:
no dialect service has a breaker that opens (the camel gateway's /health names one that
is always closed), message queues or containers.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from dialect_services import DialectService
from shipped_support import (
    SCENARIOS,
    Outcome,
    Short,
    derive,
    junit_failures,
    load,
    run_scenario,
    run_scenarios,
)

from loadkit.run.proxy import start_proxy
from loadkit.target.config import AgentConfig, TargetConfig, break_fields

pytestmark = pytest.mark.exclusive  # timing-sensitive: see tests/exclusive.py

SHORT: dict[str, Short] = {
    "gateway-callbacks": Short(
        stages=[
            {"name": "ramp-up", "duration": "2s", "users": 10, "spawn_rate": 10},
            {"name": "steady", "duration": "6s", "users": 10},
            {"name": "faults", "duration": "19s", "users": 10},
        ],
        # gw-down outlasts LongJobUser's 4 s jobs by 1 s: each in flight when it starts
        # ends during it, and its result waits in the outbox. The agent claims no work
        # until that outbox is delivered (measured: up to 3.6 s after gw-down), so
        # agent-kill comes 8 s after gw-down (the file: 15 s), when LongJobUser's jobs
        # are running again and the kill finds them pending
        faults={"disk-full": (8, 3), "gw-down": (12, 5), "agent-kill": (25, 1)},
        # the jobs pending at the kill are run again 3 s (lease_s) after it and take 4 s:
        # all end by ~5 s after the load (measured: the audit found them done within 1 s);
        # a twin's lost jobs keep the audit waiting its whole deadline
        audit={"deadline": "15s"},
    ),
    "breaker-health": Short(
        stages=[
            {"name": "ramp-up", "duration": "2s", "users": 6, "spawn_rate": 6},
            {"name": "steady", "duration": "5s", "users": 6},
            {"name": "faults", "duration": "29s", "users": 6},
        ],
        faults={
            "half-errors": (9, 3),
            "slow-callbacks": (13, 4),
            "outage-503": (19, 3),
            "store-down": (28, 3),
        },
    ),
    "session-queues": Short(
        stages=[
            # ramp-up outlasts an activation (~1 s): the sustained stage then counts a
            # full 12 s of them, not fewer by the time the first one takes
            {"name": "ramp-up", "duration": "3s", "users": 4, "spawn_rate": 4},
            {"name": "sustained", "duration": "12s", "users": 4},
        ],
        faults={},
    ),
    "preview-sessions": Short(
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 4, "spawn_rate": 4},
            {"name": "steady", "duration": "14s", "users": 4},
            {"name": "restart", "duration": "7s", "users": 4},
        ],
        faults={"gw-restart": (16, None)},
    ),
    "task-sync": Short(
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 7, "spawn_rate": 7},
            {"name": "steady", "duration": "8s", "users": 7},
            {"name": "faults", "duration": "24s", "users": 7},
        ],
        # a 10 KB task through 1 KB/s takes ~10.5 s: thin-pipe is long enough for one
        # to start in it (TaskBulkUser writes one every ~1.5 s) and end in it
        faults={"slow-net": (10, 3), "net-timeout": (14, 3), "thin-pipe": (18, 14)},
    ),
}

# scenario -> its twins: the target option that breaks one behaviour, and the checks
# that name that behaviour (exactly these fail)
TWINS: dict[str, list[tuple[str, frozenset[str]]]] = {
    "gateway-callbacks": [
        ("break_callbacks_not_retried",
         frozenset({"max(probe(agent.outbox)) >= 1 during fault:gw-down",
                    "last(probe(health.retried)) >= 1 after fault:gw-down"})),
        # the killed agent's jobs are never handed out again
        ("break_expired_leases_not_requeued", frozenset({"lost(jobs) == 0"})),
    ],
    "breaker-health": [
        ("break_breaker_never_opens",
         frozenset({'probe(agent.breaker) == "open" during fault:slow-callbacks',
                    "probe(agent.opened_after) == 3 during fault:slow-callbacks"})),
    ],
    "session-queues": [
        ("break_session_messages_reordered", frozenset({"failures(QUEUE order) == 0"})),
    ],
    "preview-sessions": [
        ("break_sessions_forgotten_on_restart", frozenset({"lost(sessions) == 0"})),
    ],
    "task-sync": [("break_sync_event_dropped", frozenset({"missed(sync) == 0"}))],
}  # fmt: skip


def _tail(outcome: Outcome) -> str:
    return outcome.output[-4000:]


# -- the files themselves (fast) --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SHORT))
def test_a_shipped_scenario_validates_and_says_how_long_it_takes(name: str) -> None:
    path = SCENARIOS / f"{name}.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# Full length: about " in path.read_text()
    assert load(name)["checks"]


def test_every_scenario_has_a_twin_whose_check_and_knob_exist() -> None:
    knobs = break_fields(TargetConfig) | break_fields(AgentConfig)
    assert (
        set(TWINS)
        == set(SHORT)
        == {p.stem for p in SCENARIOS.glob("*.yaml")}
        - {
            "quickstart",
            "session-burst",
            "sync-soak",
            "workspace-gateway",
        }
    )
    for name, twins in TWINS.items():
        assert twins and len({knob for knob, _ in twins}) == len(twins), name
        for knob, named in twins:
            assert knob in knobs, knob
            assert named and named <= set(load(name)["checks"]), (name, named)


def test_a_derived_run_keeps_the_files_faults_probes_and_checks(tmp_path: Path) -> None:
    for name, short in SHORT.items():
        data = load(name)
        for knob, _ in TWINS[name]:
            derived = yaml.safe_load(derive(name, short, tmp_path, broken=knob).read_text())
            assert derived["checks"] == data["checks"]
            assert derived.get("probes") == data.get("probes")
            kinds = [(f["name"], f["kind"]) for f in derived.get("faults") or []]
            assert kinds == [(f["name"], f["kind"]) for f in data.get("faults") or []]
            options = {**data.get("target_options", {}), knob: True}
            assert derived.get("target_options") == options
            audit = {**data["audit"], **(short.audit or {})} if "audit" in data else None
            assert derived.get("audit") == audit


# -- green runs and their twins (real runs of the built-in target) ----------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHORT))
def test_a_shipped_scenario_passes_and_its_twins_fail_exactly_their_checks(
    name: str, tmp_path: Path
) -> None:
    runs = [(derive(name, SHORT[name], tmp_path), tmp_path / "green")]
    runs += [(derive(name, SHORT[name], tmp_path, broken=knob), tmp_path / knob)
             for knob, _ in TWINS[name]]  # fmt: skip
    passed, *twins = run_scenarios(runs)
    assert passed.code == 0, _tail(passed)
    assert set(passed.checks) == set(load(name)["checks"]), _tail(passed)
    assert all(passed.checks.values()), _tail(passed)

    for (knob, named), failed in zip(TWINS[name], twins, strict=True):
        assert failed.code == 1, (knob, _tail(failed))
        assert set(failed.checks) == set(load(name)["checks"]), (knob, _tail(failed))
        assert failed.failed == named, (knob, _tail(failed))
        assert failed.run_dir is not None
        assert junit_failures(failed.run_dir) == named, knob


# -- through a profile, against the independent service of each dialect ----------------


def _keep(data: dict[str, Any], checks: list[str], rename: dict[str, str] | None = None) -> None:
    """Keep these of the file's checks (the service carries them), with event names renamed."""
    missing = [c for c in checks if c not in data["checks"]]
    assert not missing, f"not checks of the file: {missing}"
    renamed = []
    for check in checks:
        for old, new in (rename or {}).items():
            check = check.replace(old, new)
        renamed.append(check)
    data["checks"] = renamed


def camel_edit(service: DialectService) -> Callable[[dict[str, Any]], None]:
    """gateway-callbacks on the camelCase gateway: its jobs (no outputs: ``echo`` jobs
    become ``complete``), and a real pause of its process; it has no agent, outbox, disk
    faults or cleanup endpoint the plan's other checks could read."""

    def edit(data: dict[str, Any]) -> None:
        data.update(target=service.url, service="camel-gateway")
        data["users"] = {"WorkspaceUser": 9}
        for key in ("target_options", "probes", "audit"):
            data.pop(key, None)
        down = next(f for f in data["faults"] if f["name"] == "gw-down")
        data["faults"] = [{**{k: v for k, v in down.items() if k != "target"},
                           "pid": service.proc.pid}]  # fmt: skip
        _keep(
            data,
            ["error_rate < 1%", "rate(JOB echo) >= 100/m during steady",
             "p95(JOB echo) < 10s during steady"],
            {"JOB echo": "JOB complete"},
        )  # fmt: skip

    return edit


def hermes_edit(service: DialectService) -> Callable[[dict[str, Any]], None]:
    """preview-sessions on the /hermes activation service: bursts of cold starts and their
    success; it keeps sessions in memory (a restart loses them by design), has no warm
    starts, activity, expiry or close, and the audit speaks only the built-in API."""

    def edit(data: dict[str, Any]) -> None:
        data.update(target=service.url, service="hermes-sessions")
        data["users"] = {"SessionBurstUser": 3}
        for key in ("target_options", "faults", "audit"):
            data.pop(key, None)
        _keep(
            data, ["error_rate < 5% during steady", "max(SESSION ready cold) < 60s during steady"]
        )

    return edit


def sync_edit(service_url: str, proxy_api: str) -> Callable[[dict[str, Any]], None]:
    """task-sync on the task-sync service, through a fault proxy in front of it (the same
    three toxics): notifications, conflicts, missed and out-of-order events. Its
    endpoints are its own; TaskBulkUser speaks the built-in API."""

    def edit(data: dict[str, Any]) -> None:
        data.update(target=service_url, service="task-sync")
        data["users"] = {"SyncClientUser": 6}
        data.pop("audit", None)
        for fault in data["faults"]:
            fault.update(api=proxy_api, proxy="gateway")
        _keep(
            data,
            [
                "count(WS notify task.created) >= 1",
                "count(WS notify task.updated) >= 1",
                "p95(WS notify task.updated) < 1s during steady",
                "p95(WS notify task.updated) < 2s during fault:slow-net",
                "count(SYNC conflict server_wins) >= 1",
                "failures(SYNC conflict server_wins) == 0 during steady",
                "missed(sync) == 0",
                "out_of_order(sync) == 0",
            ],
        )

    return edit


# The profile runs keep the checks of the steady stage and one fault (see the edits
# above), so they need less of the plan than the green runs do.
PROFILE_SHORT: dict[str, Short] = {
    "gateway-callbacks": Short(  # only gw-down is kept
        stages=[
            {"name": "ramp-up", "duration": "2s", "users": 9, "spawn_rate": 9},
            {"name": "steady", "duration": "6s", "users": 9},
            {"name": "faults", "duration": "6s", "users": 9},
        ],
        faults={"disk-full": (8, 1), "gw-down": (9, 3), "agent-kill": (13, 1)},
    ),
    "preview-sessions": Short(  # no fault is kept
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 3, "spawn_rate": 3},
            {"name": "steady", "duration": "8s", "users": 3},
            {"name": "restart", "duration": "1s", "users": 3},
        ],
        faults={"gw-restart": (9, None)},
    ),
    "task-sync": Short(  # the three toxics, short (its big tasks are not checked)
        stages=[
            {"name": "ramp-up", "duration": "1s", "users": 7, "spawn_rate": 7},
            {"name": "steady", "duration": "8s", "users": 7},
            {"name": "faults", "duration": "14s", "users": 7},
        ],
        faults={"slow-net": (10, 3), "net-timeout": (14, 3), "thin-pipe": (18, 3)},
    ),
}


def _run_on(service: DialectService, name: str, edit: Any, out: Path) -> Outcome:
    """``name``, shortened for profile runs and edited by ``edit(service)``, on ``service``."""
    path = derive(name, PROFILE_SHORT[name], out, edit=edit(service))
    return run_scenario(path, out / "run")


@pytest.mark.slow
def test_gateway_callbacks_through_the_camel_gateway_profile(
    camel: DialectService, tmp_path: Path
) -> None:
    outcome = _run_on(camel, "gateway-callbacks", camel_edit, tmp_path)
    assert outcome.code == 0, _tail(outcome)
    assert len(outcome.checks) == 3 and all(outcome.checks.values()), _tail(outcome)


@pytest.mark.slow
def test_preview_sessions_through_the_hermes_profile(
    hermes: DialectService, tmp_path: Path
) -> None:
    outcome = _run_on(hermes, "preview-sessions", hermes_edit, tmp_path)
    assert outcome.code == 0, _tail(outcome)
    assert len(outcome.checks) == 2 and all(outcome.checks.values()), _tail(outcome)


def _sync_runs(runs: dict[str, tuple[str, ...]], tmp_path: Path) -> list[Outcome]:
    """task-sync through its profile and a fault proxy, side by side: per folder name, on
    its own service started with these flags."""
    with ExitStack() as stack:
        paths = []
        for name, flags in runs.items():
            out = _folder(tmp_path / name)
            service = DialectService("task_sync", *flags)
            stack.callback(service.stop)
            proxy = stack.enter_context(start_proxy(service.url, _folder(out / "proxy")))
            path = derive("task-sync", PROFILE_SHORT["task-sync"], out,
                          edit=sync_edit(proxy.url, proxy.api_url))  # fmt: skip
            paths.append((path, out / "run"))
        return run_scenarios(paths)


@pytest.mark.slow
def test_task_sync_through_its_profile_and_a_proxy_passes_and_a_dropping_twin_fails(
    tmp_path: Path,
) -> None:
    """The twin is the same run against the service started with ``--drop-updates``."""
    passed, failed = _sync_runs({"green": (), "twin": ("--drop-updates",)}, tmp_path)
    assert passed.code == 0, _tail(passed)
    assert len(passed.checks) == 8 and all(passed.checks.values()), _tail(passed)
    assert failed.code == 1, _tail(failed)
    assert failed.failed == {"missed(sync) == 0"}, _tail(failed)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
