"""The report step of `loadkit run` runs in-process: its exit code is the verdict's, and a
reporter that crashes never gives a pass."""

from __future__ import annotations

from pathlib import Path

import pytest

import loadkit.cli
from loadkit.errors import EXIT_CHECKS_FAILED, EXIT_OK, EXIT_RUN_FAILED
from loadkit.run import command
from loadkit.rundir.synthetic import SyntheticRun, write_run_dir


def test_the_report_step_writes_the_report_and_returns_the_verdict(tmp_path: Path) -> None:
    passing = write_run_dir(SyntheticRun(name="ok", checks=["count > 10"]), tmp_path / "ok")
    assert command._report(passing, None) == EXIT_OK
    assert (passing / "report.html").is_file() and (passing / "summary.json").is_file()
    failing = write_run_dir(
        SyntheticRun(name="bad", checks=["count > 1000000000000"]), tmp_path / "bad"
    )
    assert command._report(failing, None) == EXIT_CHECKS_FAILED


def test_a_reporter_crash_is_a_run_that_could_not_be_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reporter bug cannot be produced on purpose: ``main`` is replaced by one that raises."""

    def crash(argv: list[str]) -> int:
        raise RuntimeError("reporter bug")

    monkeypatch.setattr(loadkit.cli, "main", crash)
    run_dir = write_run_dir(SyntheticRun(name="crash"), tmp_path / "crash")
    assert command._report(run_dir, None) == EXIT_RUN_FAILED
    assert "RuntimeError: reporter bug" in capsys.readouterr().err


def test_the_reporter_is_imported_in_the_background() -> None:
    command.import_reporter()
    import sys

    assert all(name in sys.modules for name in command.REPORT_MODULES)


def test_the_warm_up_draws_unless_the_report_has_begun(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy wraps the real warm-up (its effect, matplotlib's caches, cannot be observed)."""
    import loadkit.report.plots as plots
    from loadkit.run.warmup import ReporterImports

    drawn: list[bool] = []
    real = plots.warm_up
    monkeypatch.setattr(plots, "warm_up", lambda: drawn.append(True) or real())
    early = ReporterImports()
    early.report_begins()  # the report came first (a very short run): no warm-up at all
    early.start()
    early._thread.join(60)
    assert drawn == []
    during_load = ReporterImports()
    during_load.start()
    during_load._thread.join(60)
    during_load.report_begins()
    assert drawn == [True]
