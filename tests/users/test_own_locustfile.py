"""A user's own locustfile: subclasses of the library's users, own tasks, own output checks.

Real headless Locust runs against the reference target. Locust runs only the
subclasses (the imported ``JobUser``/``SessionUser``/``SyncUser`` are abstract),
a subclass's own tasks replace ``--job-tasks``, and an output that breaks its
:class:`~loadkit.users.Expect` (or a service that answers wrongly) is a Locust
failure with a one-line message while the user goes on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from locust_support import locust_cmd

from loadkit.users.profile.loader import PROFILES_DIR

FAST = ("--job-poll-interval", "0.05", "--job-wait", "0")

MINE = """\
from locust import task

import loadkit.locust  # noqa: F401
from loadkit.users import Expect, JobUser, SessionUser, SyncUser  # noqa: F401


class MyJobs(JobUser):
    @task
    def answer(self) -> None:
        text = '{"total": 7, "items": [1, 2]}'
        self.job("answer", self.command("echo", text=text), Expect(json=True, contains='"total"'))

    @task
    def not_json(self) -> None:  # the service echoes plain text: must fail, not stop the user
        self.job("not-json", self.command("echo", text="plain text"), Expect(json=True))

    @task
    def missing(self) -> None:
        self.job("missing", self.command("echo", text="abc"), Expect(contains="xyz"))


class MySessions(SessionUser):
    pass
"""


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(MINE)
    return path


def test_locust_runs_only_the_subclasses(tmp_path) -> None:
    proc = subprocess.run(
        locust_cmd(str(_write(tmp_path)), "--list"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.split("Available Users:")[1].split()
    assert listed == ["MyJobs", "MySessions"], proc.stdout


def test_own_tasks_with_own_output_checks(target, locust, tmp_path) -> None:
    result = locust.run(
        str(_write(tmp_path)),
        target.url,
        users=2,
        until=("JOB answer", "JOB not-json", "JOB missing"),
        args=("MyJobs", "--job-tasks", "echo:1", *FAST),
    )
    assert result.count("JOB answer") > 0 and result.failed("JOB answer") == 0, result.explain()
    assert result.failed("JOB not-json") == result.count("JOB not-json") > 0, result.explain()
    assert result.failed("JOB missing") == result.count("JOB missing") > 0, result.explain()
    errors = {f["Name"]: f["Error"] for f in result.failures}
    assert "not-json: output is not valid JSON (Expecting value" in errors["not-json"], errors
    assert "missing: output 'abc' does not contain 'xyz'" in errors["missing"], errors
    assert result.count("JOB echo") == 0, result.explain()  # own tasks replace --job-tasks
    # the users went on: each failing task failed more than once, none crashed
    assert result.count("JOB not-json") + result.count("JOB missing") > 2, result.explain()
    assert "Traceback" not in result.output, result.output[-3000:]
    assert "no tasks left" not in result.output, result.output[-3000:]  # Locust's warning


def test_a_service_answering_wrongly_fails_the_output_checks(target, locust, tmp_path) -> None:
    """The built-in profile in YAML, with commands the target runs differently from what
    the user expects: the echo comes back with a prefix, a "bytes" job returns 4 characters."""
    text = (PROFILES_DIR / "builtin-yaml.yaml").read_text()
    wrong = text.replace('echo: "echo {text}", bytes: "bytes {size}"',
                         'echo: "echo X{text}", bytes: "echo {size}"')  # fmt: skip
    assert wrong != text
    profile = tmp_path / "wrong.yaml"
    profile.write_text(wrong)
    result = locust.run(
        "workspace.py",
        target.url,
        users=2,
        until=("JOB echo", "JOB bytes", "JOB json"),
        args=("--user-profile", str(profile), "--job-tasks", "echo:1,bytes:1,json:1",
              "--job-output-sizes", "1024", "--job-large-output-share", "0", *FAST),
    )  # fmt: skip
    for kind in ("echo", "bytes", "json"):
        job = f"JOB {kind}"
        assert result.failed(job) == result.count(job) > 0, (job, result.explain())
    errors = {f["Name"]: f["Error"] for f in result.failures}
    assert "echo: got 'Xhello " in errors["echo"], errors
    assert "bytes: got 3 bytes, expected 1024" in errors["bytes"], errors
    assert "json: output is not valid JSON" in errors["json"], errors
    assert "Traceback" not in result.output, result.output[-3000:]
    assert "no tasks left" not in result.output, result.output[-3000:]  # Locust's warning
