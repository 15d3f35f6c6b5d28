"""A scenario's ``service:`` section: checked at load, handed to the users, secrets kept out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dialect_services import DialectService

from loadkit.errors import ScenarioError
from loadkit.scenario.load import load_scenario

ROOT = Path(__file__).resolve().parents[2]

INLINE = """\
name: camel
target: {url}
locustfile: {locustfile}
users: {{WorkspaceUser: 1}}
stages:
  - {{duration: 4s, users: 2, spawn_rate: 2}}
options: {{job-tasks: "echo:2,timeout:1", job-long-s: 2, job-poll-interval: 0.02, job-wait: 0}}
service:
  headers: {{X-Token: "${{LK_TEST_SECRET}}"}}
  jobs:
    commands: {{echo: "say {{text}}", sleep: "nap {{seconds}}"}}
    submit:
      path: /execute
      body: {{chatId: "{{client_id}}", command: "{{command}}", timeoutMs: "{{timeout_ms}}"}}
      id: requestId
    status:
      path: "/status/{{id}}"
      state: state
      states: {{queued: queued, processing: running, completed: completed, failed: failed,
               timeout: timeout}}
checks:
  - count > 5
  - error_rate < 1%
"""
SECRET = "s3cret-7f1e2d9c"


def _scenario(tmp_path: Path, url: str = "http://127.0.0.1:9") -> Path:
    path = tmp_path / "camel.yaml"
    path.write_text(INLINE.format(url=url, locustfile=ROOT / "locustfiles" / "workspace.py"))
    return path


def test_an_inline_service_becomes_the_users_profile(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LK_TEST_SECRET", SECRET)
    scenario = load_scenario(_scenario(tmp_path))
    assert scenario.options["user-profile"] == f"{tmp_path / 'camel.yaml'}#service"
    assert SECRET not in " ".join(scenario.locust_option_args())


def test_a_mistake_in_the_service_section_is_one_line_with_its_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LK_TEST_SECRET", SECRET)
    path = _scenario(tmp_path)
    path.write_text(path.read_text().replace("state: state", "state: 'state[?'"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:18: service.jobs.status.state: 'state[?'")


def test_an_unset_secret_is_exit_2_before_anything_starts(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("LK_TEST_SECRET", raising=False)
    with pytest.raises(ScenarioError, match="LK_TEST_SECRET is not set"):
        load_scenario(_scenario(tmp_path))


def test_a_profile_name_and_an_unknown_one(tmp_path) -> None:
    path = _scenario(tmp_path)
    text = path.read_text()
    path.write_text(text[: text.index("service:")] + "service: camel-gateway\n")
    assert load_scenario(path).options["user-profile"] == "camel-gateway"
    path.write_text(text[: text.index("service:")] + "service: nosuch\n")
    with pytest.raises(ScenarioError, match=r":8: service: no profile named 'nosuch'"):
        load_scenario(path)


def test_a_run_against_a_service_that_needs_a_token_passes_and_never_writes_it(tmp_path) -> None:
    with DialectService("camel_gateway", "--token", SECRET) as service:
        env = {**os.environ, "LK_TEST_SECRET": SECRET}
        proc = subprocess.run(
            [sys.executable, "-m", "loadkit", "run", str(_scenario(tmp_path, service.url))],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "JOB complete" in output and "JOB timeout" in output, output[-4000:]
    assert SECRET not in output
    written = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_loadkit_run_with_a_bad_profile_file_is_exit_2_naming_that_file(tmp_path) -> None:
    profile = tmp_path / "svc.yaml"
    profile.write_text("jobs:\n  submit: {path: /run, id: id}\n  stauts: {path: /s}\n")
    path = _scenario(tmp_path)
    text = path.read_text()
    path.write_text(text[: text.index("service:")] + "service: svc.yaml\n")
    proc = subprocess.run(
        [sys.executable, "-m", "loadkit", "run", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"error: {profile}:3: jobs.stauts: unknown key" in lines[0], lines
    assert not (tmp_path / "reports").exists()  # nothing started
