"""The package works outside a clone: a non-editable install into a fresh venv.

Slow (a pip install, from the pip cache when warm): ``pytest -m slow tests/users``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv with loadkit installed from this tree, not editable."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv / "bin"


def _run(
    bin_dir: Path, cwd: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(bin_dir / "loadkit"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_installed_package_is_not_this_tree(installed: Path, tmp_path: Path) -> None:
    code = (
        "import loadkit, loadkit.users.jobs as j;"
        " print(loadkit.__file__); print(j.JobUser.abstract)"
    )
    proc = subprocess.run(
        [str(installed / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    where, abstract = proc.stdout.split()
    assert not where.startswith(str(ROOT)) and "site-packages" in where, where
    assert abstract == "True"


def test_loadkit_run_in_an_empty_folder_runs_the_quickstart(
    installed: Path, tmp_path: Path
) -> None:
    # 13 s: the quickstart's fault is injected at 12 s, and a fault the run would end
    # before is refused before anything starts (tested below)
    proc = _run(installed, tmp_path, "run", "--users", "3", "--duration", "13s")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "run quickstart" in output and "verdict: PASS" in output, output[-4000:]
    assert "JOB echo" in output, output[-4000:]
    assert list((tmp_path / "reports").glob("*quickstart*/summary.json")), output[-2000:]
    short = _run(installed, tmp_path, "run", "--users", "3", "--duration", "5s")
    assert short.returncode == 2, short.stdout + short.stderr
    assert "never fires" in short.stderr and "Traceback" not in short.stderr, short.stderr


def test_loadkit_init_output_runs_green(installed: Path, tmp_path: Path) -> None:
    proc = _run(installed, tmp_path, "init", "starter")
    assert proc.returncode == 0, proc.stderr
    proc = _run(installed, tmp_path, "run", "starter/scenario.yaml")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "verdict: PASS" in output and "JOB echo" in output, output[-4000:]
    again = _run(installed, tmp_path, "init", "starter")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_loadkit_options_lists_the_user_options(installed: Path, tmp_path: Path) -> None:
    proc = _run(installed, tmp_path, "options")
    assert proc.returncode == 0, proc.stderr
    for flag in (
        "--job-tasks",
        "--session-mode",
        "--sync-repos",
        "--user-profile",
        "--loadkit-out",
    ):
        assert flag in proc.stdout, (flag, proc.stdout)
    assert "deprecated: --ws-tasks" in proc.stdout
