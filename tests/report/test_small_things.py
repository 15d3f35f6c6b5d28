"""Regressions (issue 15): a duplicate recovery line; ``url=None`` in the faults table."""

from __future__ import annotations

from loadkit.report.phases import fault_windows
from loadkit.rundir.synthetic import SyntheticFault


def test_recovery_is_printed_once_with_its_time(make_run, cli) -> None:
    run_dir = make_run(
        "once",
        duration_s=30,
        faults=[SyntheticFault("slow", 10, 5, recover_s=2), SyntheticFault("other", 20, 2)],
        checks=["recovery(slow) < 20s"],
    )
    out = cli("report", str(run_dir)).stdout
    lines = [line for line in out.splitlines() if "slow" in line and "recover" in line]
    assert len(lines) == 1 and lines[0].strip().startswith("PASS  recovery(slow) < 20s: "), out
    assert lines[0].split(": ")[1].endswith("s (limit 20s)")
    # a fault without a recovery check still gets its line
    assert sum("recovery after other:" in line for line in out.splitlines()) == 1, out


def test_faults_table_leaves_unset_parameters_out() -> None:
    events = [
        {"t": 1.0, "s": 1.0, "type": "fault_inject", "name": "x", "kind": "latency",
         "params": {"url": None, "latency": "200ms"}},
        {"t": 2.0, "s": 2.0, "type": "fault_revert", "name": "x"},
    ]  # fmt: skip
    (window,) = fault_windows(events, 10.0)
    assert window.params == "latency=200ms"
