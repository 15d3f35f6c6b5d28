"""Fixtures for the reporter's tests: synthetic run directories written on demand."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from loadkit.cli import main
from loadkit.rundir.synthetic import SyntheticRun, write_run_dir

ENDPOINTS = ["POST /execute", "GET /status/[id]", "GET /responses/[id]"]


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(name, **SyntheticRun fields)`` -> a fresh synthetic run directory."""

    def make(name: str = "run", **fields: object) -> Path:
        fields.setdefault("endpoints", list(ENDPOINTS))
        return write_run_dir(SyntheticRun(name=name, **fields), tmp_path / name)  # type: ignore[arg-type]

    return make


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadkit ARGS`` the way a user does; returns the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "loadkit", *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli("report", RUN_DIR, ...)``: ``loadkit.cli.main`` in this process (fast), with its
    exit code, stdout and stderr. ``run_cli`` runs the real ``python -m loadkit`` instead."""

    def call(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        previous = Path.cwd()
        try:
            if cwd is not None:
                os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            os.chdir(previous)
        return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())

    return call


@pytest.fixture
def real_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``real_cli("report", RUN_DIR, ...)``: the real ``python -m loadkit`` in a subprocess."""
    return run_cli
