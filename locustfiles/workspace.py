"""WorkspaceUser: jobs in a workspace, checked end to end.

Each user works in its own workspace (``--ws-workspaces N`` makes users share
N). Its tasks submit jobs with ``POST /execute``, poll ``GET /status/{id}``
every ``--ws-poll-interval`` seconds until the job is terminal (a job still
running after ``--ws-job-deadline`` seconds is a failure, never a hang),
then check the output. Each job is also one ``JOB`` request event, timed from
submit to terminal as seen by the client (``JOB echo``, ``JOB bytes``...):

- ``echo``: a short echo, output must match.
- ``bytes``: ``bytes N`` (``--ws-output-sizes``; ``--ws-large-output-share``
  of them ``--ws-large-output-bytes``, 10 MiB by default), checked by length
  and sha256 against :func:`loadkit.target.commands.deterministic_bytes`.
- ``special``: quotes, shell metacharacters, newlines, emoji must come back intact.
- ``isolation``: ``set`` in its workspace, ``get`` there (must match) and in
  a stranger's workspace (must be empty: anything else is a leak).
- ``interrupt``: a long ``sleep`` is interrupted and must end ``interrupted``
  (the event times interrupt → terminal).
- ``timeout``: a ``sleep`` with ``timeout_ms`` must end ``timeout``.

Every broken expectation is a Locust failure with a one-line message; the
user goes on with its next task.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import time
import uuid
from functools import lru_cache
from types import TracebackType
from typing import Any

import common
from common import CheckFailed
from locust import FastHttpUser, events, task

import loadkit.locust  # noqa: F401  (the loadkit plugin: metrics, shapes, faults)
from loadkit.audit import accepted
from loadkit.target.commands import deterministic_bytes

TERMINAL = frozenset({"completed", "failed", "timeout", "interrupted"})
SPECIAL_TEXTS = (
    "quotes \"double\" and 'single' and `back`",
    "shell $(rm -rf /) ; | & > < * ? ~ $HOME %PATH% !!",
    "unicode é ß Ω 日本語 العربية עברית 🚀 👩‍💻 e\u0301 zero\u200bwidth",
    "lines\nsecond line\ttab\r\nthird\n",
    'backslashes \\ \\n \\\\ and json {"a": [1, 2]} <b>&amp;</b>',
    "   leading and trailing spaces   ",
)


TASK_NAMES = ("echo", "bytes", "special", "isolation", "interrupt", "timeout")
DEFAULT_TASKS = "echo:10,bytes:3,special:2,isolation:2,interrupt:1,timeout:1"


def _task_weights(text: str) -> dict[str, int]:
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
    _task_weights(text)
    return text  # kept as text: Locust's web UI edits it as a string


task_weights = common.typed(_checked_tasks, bool, "a list like 'echo:10,bytes:3' of known tasks")


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    group = common.WebArguments(parser)
    group.add_argument(
        "--ws-workspaces",
        type=common.non_negative_int,
        default=0,
        help="workspaces shared by all users (0 = one per user)",
    )
    group.add_argument("--ws-workspace-prefix", default="lk", help="workspace name prefix")
    group.add_argument(
        "--ws-poll-interval",
        type=common.positive_float,
        default=0.1,
        help="seconds between GET /status polls",
    )
    group.add_argument(
        "--ws-job-deadline",
        type=common.positive_float,
        default=60.0,
        help="seconds after which an unfinished job is a failure",
    )
    group.add_argument(
        "--ws-output-sizes",
        type=common.int_list,
        default="1024,65536,1048576",
        help="bytes-job sizes, comma-separated",
    )
    group.add_argument(
        "--ws-large-output-bytes",
        type=common.positive_int,
        default=10 * 1024 * 1024,
        help="size of the occasional large output",
    )
    group.add_argument(
        "--ws-large-output-share",
        type=common.probability,
        default=0.02,
        help="share of bytes jobs that use the large size",
    )
    group.add_argument(
        "--ws-long-job-s",
        type=common.positive_float,
        default=30.0,
        help="sleep of the jobs that get interrupted or time out",
    )
    group.add_argument(
        "--ws-job-timeout-ms",
        type=common.positive_int,
        default=300,
        help="timeout_ms of the timeout jobs",
    )
    group.add_argument(
        "--ws-tasks",
        type=task_weights,
        default=DEFAULT_TASKS,
        help="tasks and weights, e.g. 'echo:10,bytes:3' (names: " + ", ".join(TASK_NAMES) + ")",
    )
    group.add_argument(
        "--ws-stranger-workspace",
        default="",
        help="workspace the isolation probe reads as a stranger (default: a new one)",
    )
    group.add_argument(
        "--ws-wait",
        type=common.non_negative_float,
        default=0.1,
        help="maximum think time between tasks, seconds",
    )


@lru_cache(maxsize=16)
def expected_digest(size: int) -> str:
    return hashlib.sha256(deterministic_bytes(size)).hexdigest()


class _Job:
    """One job as one ``JOB <kind>`` event: failed if a check inside raised CheckFailed."""

    def __init__(self, user: WorkspaceUser, kind: str) -> None:
        self.user = user
        self.kind = kind
        self.started = time.perf_counter()
        self.elapsed_ms: float | None = None

    def __enter__(self) -> _Job:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is not None and not isinstance(exc, CheckFailed):
            return False
        common.fire(
            self.user.environment,
            "JOB",
            self.kind,
            self.started,
            exception=exc,
            response_time_ms=self.elapsed_ms,
        )
        return True

    def mark_terminal(self, since: float | None = None) -> None:
        self.elapsed_ms = (time.perf_counter() - (since or self.started)) * 1000.0


class WorkspaceUser(FastHttpUser):
    """Runs checked jobs in its workspace; see the module docstring for the tasks."""

    abstract = False

    def wait_time(self) -> float:
        return random.uniform(0.0, float(common.setting(self.environment, "ws_wait", 0.1)))

    def on_start(self) -> None:
        number = common.next_user_number("workspace")
        prefix = common.setting(self.environment, "ws_workspace_prefix", "lk")
        shared = int(common.setting(self.environment, "ws_workspaces", 0))
        if shared > 0:
            self.workspace = f"{prefix}-shared-{number % shared}"
        else:
            self.workspace = f"{prefix}-{common.PROCESS_TOKEN}-{number}"
        self.stranger = str(common.setting(self.environment, "ws_stranger_workspace", "")) or (
            f"{prefix}-stranger-{common.PROCESS_TOKEN}-{number}"
        )
        weights = _task_weights(common.setting(self.environment, "ws_tasks", DEFAULT_TASKS))
        by_name = {
            "echo": WorkspaceUser.echo,
            "bytes": WorkspaceUser.large_output,
            "special": WorkspaceUser.special_characters,
            "isolation": WorkspaceUser.isolation,
            "interrupt": WorkspaceUser.interrupt,
            "timeout": WorkspaceUser.timeout,
        }
        self.tasks = [by_name[name] for name, weight in weights.items() for _ in range(weight)]
        self.poll_interval_s = float(common.setting(self.environment, "ws_poll_interval", 0.1))
        self.job_deadline_s = float(common.setting(self.environment, "ws_job_deadline", 60.0))

    # -- HTTP calls (each one a Locust request; a bad answer is a failure) -----

    def _call(self, method: str, path: str, name: str, expect: int, body: Any = None) -> Any:
        with self.client.request(method, path, name=name, json=body, catch_response=True) as resp:
            if resp.status_code != expect:
                detail = (resp.text or str(resp.error or ""))[:160].replace("\n", " ")
                message = f"{method} {path}: HTTP {resp.status_code}, expected {expect}: {detail}"
                resp.failure(message)
                raise CheckFailed(message)
            resp.success()
            try:
                data = resp.json()
            except ValueError:
                resp.failure(f"{method} {path}: the answer is not JSON")
                raise CheckFailed(f"{method} {path}: the answer is not JSON") from None
            if not isinstance(data, dict):
                resp.failure(f"{method} {path}: the answer is not a JSON object")
                raise CheckFailed(f"{method} {path}: the answer is not a JSON object")
            return data

    def submit(
        self, command: str, *, workspace: str | None = None, timeout_ms: int | None = None
    ) -> str:
        body: dict[str, Any] = {"workspace": workspace or self.workspace, "command": command}
        if timeout_ms is not None:
            body["timeout_ms"] = timeout_ms
        data = self._call("POST", "/execute", "/execute", 202, body)
        request_id = data.get("request_id")
        if not isinstance(request_id, str):
            raise CheckFailed(f"POST /execute: no request_id in {str(data)[:120]}")
        accepted(self.environment, "jobs", request_id, workspace=body["workspace"])
        return request_id

    def status(self, request_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._call("GET", f"/status/{request_id}", "/status/[id]", 200)
        return data

    def wait_until(self, request_id: str, states: frozenset[str]) -> dict[str, Any]:
        """Poll the status until its state is in ``states``; CheckFailed after the deadline."""
        deadline = time.monotonic() + self.job_deadline_s
        while True:
            status = self.status(request_id)
            if status.get("state") in states:
                return status
            if time.monotonic() >= deadline:
                raise CheckFailed(
                    f"job {request_id} still {status.get('state')} after {self.job_deadline_s:g}s"
                )
            time.sleep(self.poll_interval_s)

    def output(self, request_id: str) -> str:
        data = self._call("GET", f"/responses/{request_id}", "/responses/[id]", 200)
        output = data.get("output")
        if not isinstance(output, str):
            raise CheckFailed(f"job {request_id}: output is {type(output).__name__}, not text")
        return output

    def run_job(
        self, job: _Job, command: str, *, expect: str = "completed", workspace: str | None = None
    ) -> str:
        """Submit, wait until terminal (timing the job), check the final state."""
        request_id = self.submit(command, workspace=workspace)
        status = self.wait_until(request_id, TERMINAL)
        job.mark_terminal()
        if status["state"] != expect:
            raise CheckFailed(
                f"{job.kind}: job {request_id} ended {status['state']}"
                f" ({status.get('error')}), expected {expect}"
            )
        return request_id

    # -- tasks ------------------------------------------------------------------

    @task(10)
    def echo(self) -> None:
        text = f"hello {uuid.uuid4().hex}"
        with _Job(self, "echo") as job:
            output = self.output(self.run_job(job, f"echo {text}"))
            if output != text:
                raise CheckFailed(f"echo: got {output[:60]!r}, expected {text!r}")

    @task(3)
    def large_output(self) -> None:
        env = self.environment
        if random.random() < float(common.setting(env, "ws_large_output_share", 0.02)):
            size = int(common.setting(env, "ws_large_output_bytes", 10 * 1024 * 1024))
        else:
            size = random.choice(list(common.setting(env, "ws_output_sizes", [1024, 65536])))
        with _Job(self, "bytes") as job:
            encoded = self.output(self.run_job(job, f"bytes {size}"))
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise CheckFailed(f"bytes {size}: output is not base64") from None
            if len(raw) != size:
                raise CheckFailed(f"bytes {size}: got {len(raw)} bytes")
            if hashlib.sha256(raw).hexdigest() != expected_digest(size):
                raise CheckFailed(f"bytes {size}: sha256 differs from deterministic_bytes")

    @task(2)
    def special_characters(self) -> None:
        text = random.choice(SPECIAL_TEXTS) + f" #{uuid.uuid4().hex[:8]}"
        with _Job(self, "special") as job:
            output = self.output(self.run_job(job, f"echo {text}"))
            if output != text:
                raise CheckFailed(f"special: round trip changed {text!r:.60} into {output!r:.60}")

    @task(2)
    def isolation(self) -> None:
        var, value = f"V{uuid.uuid4().hex[:12]}", f"secret-{uuid.uuid4().hex}"
        with _Job(self, "isolation") as job:
            self.run_job(job, f"set {var}={value}")
            mine = self.output(self.run_job(job, f"get {var}"))
            if mine != value:
                raise CheckFailed(f"isolation: get {var} in own workspace gave {mine[:40]!r}")
            theirs = self.output(self.run_job(job, f"get {var}", workspace=self.stranger))
            if theirs != "":
                raise CheckFailed(
                    f"isolation leak: {var} set in {self.workspace} is visible in {self.stranger}"
                )

    @task(1)
    def interrupt(self) -> None:
        seconds = float(common.setting(self.environment, "ws_long_job_s", 30.0))
        with _Job(self, "interrupt") as job:
            request_id = self.submit(f"sleep {seconds:g}")
            self.wait_until(request_id, TERMINAL | {"processing"})
            asked = time.perf_counter()
            self._call("POST", f"/interrupt/{request_id}", "/interrupt/[id]", 200)
            status = self.wait_until(request_id, TERMINAL)
            job.mark_terminal(since=asked)
            if status["state"] != "interrupted":
                raise CheckFailed(
                    f"interrupt: job {request_id} ended {status['state']}, expected interrupted"
                )

    @task(1)
    def timeout(self) -> None:
        env = self.environment
        seconds = float(common.setting(env, "ws_long_job_s", 30.0))
        timeout_ms = int(common.setting(env, "ws_job_timeout_ms", 300))
        with _Job(self, "timeout") as job:
            request_id = self.submit(f"sleep {seconds:g}", timeout_ms=timeout_ms)
            status = self.wait_until(request_id, TERMINAL)
            job.mark_terminal()
            if status["state"] != "timeout":
                raise CheckFailed(
                    f"timeout: job {request_id} with timeout_ms={timeout_ms} ended"
                    f" {status['state']}, expected timeout"
                )
