"""The start gate of ``loadkit run``: Locust's init waits for a file (real files, threads)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadkit.errors import EXIT_RUN_FAILED
from loadkit.plugin.gate import wait_for_gate


def test_no_gate_means_no_wait() -> None:
    started = time.monotonic()
    wait_for_gate(SimpleNamespace(loadkit_start_gate=None), timeout_s=0.0)
    wait_for_gate(SimpleNamespace(), timeout_s=0.0)  # a parser without the option
    assert time.monotonic() - started < 1.0


def test_the_gate_holds_until_the_file_exists(tmp_path: Path) -> None:
    gate = tmp_path / "target-ready"
    opened_at: list[float] = []

    def open_later() -> None:
        time.sleep(0.3)
        opened_at.append(time.monotonic())
        gate.touch()

    opener = threading.Thread(target=open_later)
    opener.start()
    wait_for_gate(SimpleNamespace(loadkit_start_gate=str(gate)), timeout_s=60.0)
    passed_at = time.monotonic()
    opener.join()
    assert gate.exists() and opened_at and passed_at >= opened_at[0]


def test_a_gate_that_never_opens_ends_the_process_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = tmp_path / "never"
    with pytest.raises(SystemExit) as ended:
        wait_for_gate(SimpleNamespace(loadkit_start_gate=str(gate)), timeout_s=0.2)
    assert ended.value.code == EXIT_RUN_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "start gate" in err and str(gate) in err
