"""``loadkit options`` and ``loadkit init`` (the full install-and-run is test_install.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from locust_support import LOCUSTFILES


def _loadkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadkit", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_options_lists_every_user_and_plugin_option_with_its_default(tmp_path) -> None:
    proc = _loadkit("options", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.strip()}
    for flag in ("--job-tasks", "--job-poll-interval", "--session-mode", "--sync-repos",
                 "--user-profile", "--loadkit-out", "--loadkit-interval"):  # fmt: skip
        assert flag in lines, (flag, proc.stdout)
    assert "(default: 0.1)" in lines["--job-poll-interval"]
    assert "deprecated: --ws-poll-interval" in lines["--job-poll-interval"]
    assert "--headless" not in lines  # Locust's own options are `locust --help`'s business


def test_options_of_one_locustfile_show_only_its_users(tmp_path) -> None:
    proc = _loadkit("options", str(LOCUSTFILES / "sessions.py"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--session-burst-size" in proc.stdout and "--job-tasks" not in proc.stdout


def test_options_of_a_missing_locustfile_is_one_line_and_exit_2(tmp_path) -> None:
    proc = _loadkit("options", "nosuch.py", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'nosuch.py' does not exist" in proc.stderr


def test_init_writes_the_starter_and_never_overwrites(tmp_path) -> None:
    proc = _loadkit("init", "kit", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "kit").iterdir()) == [
        "locustfile.py", "profile.yaml", "scenario.yaml",
    ]  # fmt: skip
    (tmp_path / "kit" / "profile.yaml").write_text("# mine\n")
    again = _loadkit("init", "kit", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (tmp_path / "kit" / "profile.yaml").read_text() == "# mine\n"
