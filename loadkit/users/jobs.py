"""JobUser: jobs in a workspace, checked end to end, on any job service.

Each user works in its own workspace (``--job-workspaces N`` makes users share
N). Its tasks submit jobs, poll their state every ``--job-poll-interval``
seconds until terminal (a job still running after ``--job-deadline`` seconds
is a failure, never a hang), then check the output. Each job is also one
``JOB`` request event, timed from submit to terminal as seen by the client
(``JOB echo``, ``JOB bytes``...):

- ``echo``: a short echo, output must match.
- ``bytes``: ``bytes N`` (``--job-output-sizes``; ``--job-large-output-share``
  of them ``--job-large-output-bytes``, 10 MiB by default), checked by length
  and sha256 against :func:`loadkit.target.commands.deterministic_bytes`.
- ``special``: quotes, shell metacharacters, newlines, emoji must come back intact.
- ``json``: an echoed JSON document must come back as valid JSON, unchanged.
- ``isolation``: ``set`` in its workspace, ``get`` there (must match) and in
  a stranger's workspace (must be empty: anything else is a leak).
- ``interrupt``: a long ``sleep`` is interrupted and must end ``interrupted``
  (the event times interrupt → terminal).
- ``timeout``: a ``sleep`` with a timeout must end ``timeout``.
- ``complete``: an echo that must end ``completed``; ``echo`` becomes this on
  a service whose profile reads no outputs.

What the calls look like is the service profile's business
(:class:`~loadkit.users.profile.api.JobAPI`, ``--user-profile``); a task the
profile cannot express (no ``bytes`` command, no interrupt call) is left out.
Every broken expectation is a Locust failure with a one-line message; the
user goes on with its next task.

A subclass's own tasks (``@task`` methods, or ``tasks = {...}``, which may
include the ones above, e.g. ``JobUser.task_echo``) run instead of
``--job-tasks``; :meth:`JobUser.job` runs one job checked by an
:class:`~loadkit.users.outputs.Expect` (exact, contains, valid JSON, length
and sha256): ``self.job("report", "make-report 7", Expect(json=True))``.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from functools import lru_cache
from typing import Any, ClassVar

from locust import FastHttpUser, events

from loadkit.audit.record import accepted
from loadkit.target.commands import deterministic_bytes
from loadkit.users import args, webui  # noqa: F401  (webui: checks the web UI's values)
from loadkit.users.events import PROCESS_TOKEN, CheckFailed, fire, next_user_number
from loadkit.users.outputs import Expect
from loadkit.users.profile.api import JOB_TERMINAL, JobAPI, JobState
from loadkit.users.profile.loader import add_profile_argument, profile_for

__all__ = ["Expect", "JobUser"]

SPECIAL_TEXTS = (
    "quotes \"double\" and 'single' and `back`",
    "shell $(rm -rf /) ; | & > < * ? ~ $HOME %PATH% !!",
    "unicode é ß Ω 日本語 العربية עברית 🚀 👩‍💻 e\u0301 zero\u200bwidth",
    "lines\nsecond line\ttab\r\nthird\n",
    'backslashes \\ \\n \\\\ and json {"a": [1, 2]} <b>&amp;</b>',
    "   leading and trailing spaces   ",
)
# task -> (commands it needs, optional calls it needs)
TASK_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "echo": (("echo",), ("output",)),
    "bytes": (("bytes",), ("output",)),
    "special": (("echo",), ("output",)),
    "json": (("echo",), ("output",)),
    "isolation": (("set", "get"), ("output",)),
    "interrupt": (("sleep",), ("interrupt",)),
    "timeout": (("sleep",), ("timeout",)),
    "complete": (("echo",), ()),
}
TASK_NAMES = tuple(TASK_NEEDS)
DEFAULT_TASKS = "echo:10,bytes:3,special:2,isolation:2,interrupt:1,timeout:1"


def task_weights(text: str) -> dict[str, int]:
    """``'echo:10,bytes:3'`` → ``{'echo': 10, 'bytes': 3}``; ValueError if bad."""
    weights: dict[str, int] = {}
    for part in str(text).split(","):
        name, _, weight = part.strip().partition(":")
        if name not in TASK_NAMES:
            raise ValueError(name)
        weights[name] = int(weight or 1)
        if weights[name] < 0:
            raise ValueError(weight)
    if not any(weights.values()):
        raise ValueError(text)
    return weights


def _checked_tasks(text: str) -> str:
    task_weights(text)
    return text  # kept as text: Locust's web UI edits it as a string


tasks_type = args.typed(_checked_tasks, bool, "a list like 'echo:10,bytes:3' of known tasks")


# (new name, old name, options)
OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("workspaces", "ws-workspaces", {"type": args.non_negative_int, "default": 0,
        "help": "workspaces shared by all users (0 = one per user)"}),
    ("workspace-prefix", "ws-workspace-prefix", {"default": "lk",
        "help": "workspace name prefix"}),
    ("poll-interval", "ws-poll-interval", {"type": args.positive_float, "default": 0.1,
        "help": "seconds between job status polls"}),
    ("deadline", "ws-job-deadline", {"type": args.positive_float, "default": 60.0,
        "help": "seconds after which an unfinished job is a failure"}),
    ("output-sizes", "ws-output-sizes", {"type": args.int_list, "default": "1024,65536,1048576",
        "help": "bytes-job sizes, comma-separated"}),
    ("large-output-bytes", "ws-large-output-bytes", {"type": args.positive_int,
        "default": 10 * 1024 * 1024, "help": "size of the occasional large output"}),
    ("large-output-share", "ws-large-output-share", {"type": args.probability,
        "default": 0.02, "help": "share of bytes jobs that use the large size"}),
    ("long-s", "ws-long-job-s", {"type": args.positive_float, "default": 30.0,
        "help": "seconds the jobs that get interrupted or time out would sleep"}),
    ("timeout-ms", "ws-job-timeout-ms", {"type": args.positive_int, "default": 300,
        "help": "timeout of the timeout jobs, milliseconds"}),
    ("tasks", "ws-tasks", {"type": tasks_type, "default": DEFAULT_TASKS,
        "help": "tasks and weights, e.g. 'echo:10,bytes:3' (names: "
        + ", ".join(TASK_NAMES) + "; a subclass's own @tasks run instead)"}),
    ("stranger-workspace", "ws-stranger-workspace", {"default": "",
        "help": "workspace the isolation probe reads as a stranger (default: a new one)"}),
    ("wait", "ws-wait", {"type": args.non_negative_float, "default": 0.1,
        "help": "maximum think time between tasks, seconds"}),
)  # fmt: skip


def add_arguments(parser: Any) -> None:
    """``--job-*`` (the old ``--ws-*`` names still work, with a notice)."""
    group = args.WebArguments(parser)
    add_profile_argument(group)
    for name, old, options in OPTIONS:
        group.add_argument(f"--job-{name}", deprecated=(f"--{old}",), **options)


events.init_command_line_parser.add_listener(add_arguments)


@lru_cache(maxsize=16)
def expected_digest(size: int) -> str:
    return hashlib.sha256(deterministic_bytes(size)).hexdigest()


class _Job:
    """One job as one ``JOB <kind>`` event: failed if a check inside raised CheckFailed."""

    def __init__(self, user: JobUser, kind: str) -> None:
        self.user = user
        self.kind = kind
        self.started = time.perf_counter()
        self.elapsed_ms: float | None = None

    def __enter__(self) -> _Job:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc is not None and not isinstance(exc, CheckFailed):
            return False
        fire(
            self.user.environment.events.request,
            "JOB",
            self.kind,
            self.started,
            exception=exc,
            response_time_ms=self.elapsed_ms,
        )
        return True

    def mark_terminal(self, since: float | None = None) -> None:
        self.elapsed_ms = (time.perf_counter() - (since or self.started)) * 1000.0


class JobUser(FastHttpUser):
    """Runs checked jobs in its workspace; see the module docstring for the tasks.

    Abstract: subclass it in a locustfile (``class MyJobs(JobUser): pass``).
    Set ``job_api`` on the subclass to use a Python adapter instead of
    ``--user-profile``.
    """

    abstract = True
    job_api: ClassVar[JobAPI | None] = None

    def wait_time(self) -> float:
        return random.uniform(0.0, float(self.option("wait", 0.1)))

    def option(self, name: str, default: Any) -> Any:
        return args.setting(self.environment, "job_" + name.replace("-", "_"), default)

    def on_start(self) -> None:
        self.api: JobAPI = self.job_api or profile_for(self.environment).jobs
        number = next_user_number("workspace")
        prefix = self.option("workspace_prefix", "lk")
        shared = int(self.option("workspaces", 0))
        if shared > 0:
            self.workspace = f"{prefix}-shared-{number % shared}"
        else:
            self.workspace = f"{prefix}-{PROCESS_TOKEN}-{number}"
        self.stranger = str(self.option("stranger_workspace", "")) or (
            f"{prefix}-stranger-{PROCESS_TOKEN}-{number}"
        )
        self.poll_interval_s = float(self.option("poll_interval", 0.1))
        self.job_deadline_s = float(self.option("deadline", 60.0))
        own = [task for task in type(self).tasks if task is not JobUser.tasks_from_option]
        self.tasks = own or self._tasks_from_option()  # a subclass's own tasks, or --job-tasks

    def tasks_from_option(self) -> None:
        """JobUser's only declared task, a placeholder (Locust warns about a user with no
        tasks): ``on_start`` replaces it; were it ever run, it installs ``--job-tasks``."""
        self.tasks = self._tasks_from_option()

    def _tasks_from_option(self) -> list[Any]:
        weights = task_weights(self.option("tasks", DEFAULT_TASKS))
        if not self.api.supports("output") and "echo" in weights:  # no outputs: check the end
            weights["complete"] = weights.get("complete", 0) + weights.pop("echo")
        offered = [name for name in weights if weights[name] and self._offers(name)]
        if not offered:  # one failed event says why; the user idles instead of dying
            problem = f"the service profile offers none of the tasks {', '.join(sorted(weights))}"
            fire(self.environment.events.request, "JOB", "setup", time.perf_counter(),
                 exception=CheckFailed(problem))  # fmt: skip
            return [JobUser.idle]
        return [getattr(JobUser, f"task_{name}") for name in offered for _ in range(weights[name])]

    def _offers(self, task: str) -> bool:
        commands, calls = TASK_NEEDS[task]
        return all(c in self.api.commands for c in commands) and all(
            self.api.supports(c) for c in calls
        )

    def command(self, name: str, **params: Any) -> str:
        return self.api.commands[name].format(**params)

    # -- the calls, through the profile -----------------------------------------

    def submit(
        self, command: str, *, workspace: str | None = None, timeout_ms: int | None = None
    ) -> str:
        job_id = self.api.submit(
            self.client,
            workspace=workspace or self.workspace,
            command=command,
            timeout_ms=timeout_ms,
        )
        accepted(self.environment, "jobs", job_id, api=self.api)  # for the loss audit
        return job_id

    def wait_until(self, job_id: str, states: frozenset[str]) -> JobState:
        """Poll the state until it is in ``states``; CheckFailed after the deadline."""
        deadline = time.monotonic() + self.job_deadline_s
        while True:
            status = self.api.status(self.client, job_id)
            if status.state in states:
                return status
            if time.monotonic() >= deadline:
                raise CheckFailed(f"job {job_id} still {status.raw} after {self.job_deadline_s:g}s")
            time.sleep(self.poll_interval_s)

    def run_job(
        self, job: _Job, command: str, *, expect: str = "completed", workspace: str | None = None
    ) -> str:
        """Submit, wait until terminal (timing the job), check the final state."""
        job_id = self.submit(command, workspace=workspace)
        status = self.wait_until(job_id, JOB_TERMINAL)
        job.mark_terminal()
        self.server_time(job, status)
        if status.state != expect:
            raise CheckFailed(
                f"{job.kind}: job {job_id} ended {status.raw} ({status.error}), expected {expect}"
            )
        return job_id

    def job(
        self,
        kind: str,
        command: str,
        expect: Expect | None = None,
        *,
        workspace: str | None = None,
    ) -> str | None:
        """One checked job as one ``JOB <kind>`` event: submit ``command``, wait until it
        completes, and with ``expect`` fetch its output and check it. Returns the output
        ("" without ``expect``), or None if the job failed (the event says why).
        """
        with _Job(self, kind) as job:
            job_id = self.run_job(job, command, workspace=workspace)
            if expect is None:
                return ""
            if not self.api.supports("output"):
                raise CheckFailed(f"{kind}: the service profile reads no outputs to check")
            output = self.output(job_id)
            expect.check(kind, output)
            return output
        return None

    def server_time(self, job: _Job, status: JobState) -> None:
        """The job's times by the service's own clock, when it says: ``JOB <kind> server``
        (created → completed), ``queue`` (created → started) and ``run`` (started → completed).
        """
        hook = self.environment.events.request
        for part, ms in (
            ("server", status.server_ms),
            ("queue", status.queue_ms),
            ("run", status.run_ms),
        ):
            if ms is not None:
                fire(hook, "JOB", f"{job.kind} {part}", 0.0, response_time_ms=ms)

    def output(self, job_id: str) -> str:
        return self.api.output(self.client, job_id)

    # -- tasks ------------------------------------------------------------------

    def idle(self) -> None:
        time.sleep(60.0)

    def task_echo(self) -> None:
        text = f"hello {uuid.uuid4().hex}"
        self.job("echo", self.command("echo", text=text), Expect(exact=text))

    def task_complete(self) -> None:
        self.job("complete", self.command("echo", text=f"hello {uuid.uuid4().hex}"))

    def task_bytes(self) -> None:
        if random.random() < float(self.option("large_output_share", 0.02)):
            size = int(self.option("large_output_bytes", 10 * 1024 * 1024))
        else:
            size = random.choice(list(self.option("output_sizes", [1024, 65536])))
        expect = Expect(base64=True, length=size, sha256=expected_digest(size))
        self.job("bytes", self.command("bytes", size=size), expect)

    def task_special(self) -> None:
        text = random.choice(SPECIAL_TEXTS) + f" #{uuid.uuid4().hex[:8]}"
        self.job("special", self.command("echo", text=text), Expect(exact=text))

    def task_json(self) -> None:
        document: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "text": random.choice(SPECIAL_TEXTS),
            "values": [1, 2.5, None, True, {"empty": {}, "list": []}],
        }
        text = json.dumps(document, ensure_ascii=False)
        self.job("json", self.command("echo", text=text), Expect(json=True, exact=text))

    def task_isolation(self) -> None:
        var, value = f"V{uuid.uuid4().hex[:12]}", f"secret-{uuid.uuid4().hex}"
        with _Job(self, "isolation") as job:
            self.run_job(job, self.command("set", var=var, value=value))
            mine = self.output(self.run_job(job, self.command("get", var=var)))
            if mine != value:
                raise CheckFailed(f"isolation: get {var} in own workspace gave {mine[:40]!r}")
            get = self.command("get", var=var)
            theirs = self.output(self.run_job(job, get, workspace=self.stranger))
            if theirs != "":
                raise CheckFailed(
                    f"isolation leak: {var} set in {self.workspace} is visible in {self.stranger}"
                )

    def task_interrupt(self) -> None:
        seconds = float(self.option("long_s", 30.0))
        with _Job(self, "interrupt") as job:
            job_id = self.submit(self.command("sleep", seconds=f"{seconds:g}"))
            self.wait_until(job_id, JOB_TERMINAL | {"running"})
            asked = time.perf_counter()
            self.api.interrupt(self.client, job_id)
            status = self.wait_until(job_id, JOB_TERMINAL)
            job.mark_terminal(since=asked)
            if status.state != "interrupted":
                raise CheckFailed(
                    f"interrupt: job {job_id} ended {status.raw}, expected interrupted"
                )

    def task_timeout(self) -> None:
        seconds = float(self.option("long_s", 30.0))
        timeout_ms = int(self.option("timeout_ms", 300))
        with _Job(self, "timeout") as job:
            command = self.command("sleep", seconds=f"{seconds:g}")
            job_id = self.submit(command, timeout_ms=timeout_ms)
            status = self.wait_until(job_id, JOB_TERMINAL)
            job.mark_terminal()
            self.server_time(job, status)
            if status.state != "timeout":
                raise CheckFailed(
                    f"timeout: job {job_id} with timeout_ms={timeout_ms} ended"
                    f" {status.raw}, expected timeout"
                )

    tasks = [tasks_from_option]  # noqa: RUF012  (on_start sets each user's)
