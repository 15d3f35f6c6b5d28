"""The agent process: claims jobs from the gateway, runs them, calls back.

Three loops share one circuit breaker for every call to the gateway:

- *claim*: long-polls for up to ``concurrency`` jobs and runs each in its own task
  (``timeout_ms`` ends it as ``timeout``); it waits while undelivered results
  remain, so they reach the gateway before their leases could be reclaimed;
- *heartbeat*: extends the leases of held jobs and cancels those the gateway
  says are already terminal (an interrupt is seen within ``heartbeat_s``);
- *delivery*: retries the outbox with exponential backoff.

A result is posted once right away; if that fails it goes to the outbox on disk
and waits for the gateway. An interrupted job's result carries the output it
printed before it was stopped. Two ``break_*`` options break this on purpose:
``break_breaker_never_opens`` and ``break_callbacks_not_retried`` (the result
is dropped instead of going to the outbox). The agent serves ``GET /health`` (breaker state,
outbox size) on its own port: ``python -m loadkit.target.agent --gateway-url URL
--data-dir DIR [--port N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from loadkit.errors import LoadkitError
from loadkit.target import commands
from loadkit.target.breaker import CLOSED, CircuitBreaker, backoff_delay
from loadkit.target.config import AgentConfig, add_config_arguments, config_from_args
from loadkit.target.outbox import Outbox
from loadkit.target.serve import (
    add_hold_argument,
    bind_socket,
    exit_with_error,
    hold_until,
    prepare,
    serve,
    write_port_file,
)
from loadkit.target.workspaces import FileVarStore

__all__ = ["PORT_FILE", "Agent", "create_app", "main"]

PORT_FILE = "agent.port"
BREAKER_NAME = "gateway_callback"
log = logging.getLogger("loadkit.target.agent")


class GatewayUnavailable(Exception):
    """A call was refused by the open breaker or failed (network error, 5xx)."""


class Agent:
    def __init__(self, config: AgentConfig, url: str = "") -> None:
        self.config = config
        self.url = url
        self.agent_id = f"agent-{os.getpid()}"
        self.started_at = time.time()
        self.breaker = CircuitBreaker(
            config.breaker_failures,
            config.breaker_open_s,
            never_opens=config.break_breaker_never_opens,
        )
        self.dropped = 0  # results dropped by break_callbacks_not_retried
        self.outbox = Outbox(config.data_dir / "outbox")
        self.variables = FileVarStore(config.data_dir)
        self.executing: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.jobs: set[asyncio.Task[None]] = set()
        self.attempts: dict[str, int] = {}
        self.delivered = 0
        self.client = httpx.AsyncClient(
            base_url=config.gateway_url, timeout=config.request_timeout_s
        )
        self._loops: list[asyncio.Task[None]] = []
        # Long-poll claims: the gateway answers as soon as work arrives, or after this.
        self.claim_wait_s = min(1.0, config.request_timeout_s / 2)

    # -- calls to the gateway ----------------------------------------------
    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if not self.breaker.allow():
            raise GatewayUnavailable(f"circuit breaker {self.breaker.state}")
        try:
            response = await self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            self.breaker.failure()
            raise GatewayUnavailable(f"{type(exc).__name__}: {exc}") from None
        except BaseException:
            self.breaker.failure()
            raise
        if response.status_code >= 500 or response.status_code == 429:
            self.breaker.failure()
            raise GatewayUnavailable(f"HTTP {response.status_code}")
        self.breaker.success()
        return response

    async def _deliver(self, result: dict[str, Any]) -> bool:
        """Post one result; True once the gateway has answered it (applied or not)."""
        request_id = result["request_id"]
        attempt = self.attempts.get(request_id, result.get("attempts", 0)) + 1
        self.attempts[request_id] = attempt
        response = await self._post(
            f"/internal/results/{request_id}", {**result, "attempts": attempt}
        )
        if response.status_code >= 400:
            log.warning("gateway refused result %s: %s", request_id, response.text[:200])
        self.attempts.pop(request_id, None)
        self.delivered += 1
        return True

    # -- jobs --------------------------------------------------------------
    async def _execute(self, job: dict[str, Any], partial: list[str]) -> dict[str, Any]:
        state, output, error = "completed", "", None
        timeout_ms = job.get("timeout_ms")
        try:
            command = commands.parse(job["command"])
            async with asyncio.timeout(timeout_ms / 1000 if timeout_ms else None):
                output = await commands.run(command, job["workspace"], self.variables, partial)
        except TimeoutError:
            state, error = "timeout", f"timed out after {timeout_ms} ms"
            output = "".join(partial)  # what it printed before the timeout
        except commands.JobFailed as exc:
            state, error = "failed", str(exc)
        except commands.CommandError as exc:
            state, error = "failed", str(exc)
        except Exception as exc:  # a bug in a command must fail the job, not the agent
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        return {"request_id": job["request_id"], "state": state, "output": output, "error": error}

    async def _job(self, job: dict[str, Any]) -> None:
        request_id = job["request_id"]
        partial: list[str] = []
        inner = asyncio.create_task(self._execute(job, partial))
        self.executing[request_id] = inner
        try:
            await asyncio.wait({inner})
            if inner.cancelled():
                result = {
                    "request_id": request_id,
                    "state": "interrupted",
                    "output": "".join(partial),
                    "error": "interrupted by request",
                }
            else:
                result = inner.result()
            try:
                await self._deliver(result)
            except GatewayUnavailable:
                attempts = self.attempts.get(request_id, 0)
                if self.config.break_callbacks_not_retried:
                    self.attempts.pop(request_id, None)
                    self.dropped += 1
                    log.warning("break_callbacks_not_retried: dropped result %s", request_id)
                    return
                await asyncio.to_thread(self.outbox.put, {**result, "attempts": attempts})
        finally:
            self.executing.pop(request_id, None)

    # -- loops -------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while True:
            free = self.config.concurrency - len(self.executing)
            if free <= 0 or self.breaker.state != CLOSED or len(self.outbox):
                await asyncio.sleep(self.config.poll_s)
                continue
            body = {"agent_id": self.agent_id, "max": free, "wait_s": self.claim_wait_s}
            try:
                response = await self._post("/internal/claim", body)
                claimed = response.json().get("jobs", []) if response.status_code == 200 else []
                failed = response.status_code != 200
            except GatewayUnavailable:
                claimed, failed = [], True
            for job in claimed:
                if job["request_id"] in self.executing:
                    continue
                task = asyncio.create_task(self._job(job))
                self.jobs.add(task)
                task.add_done_callback(self.jobs.discard)
            if failed or (not claimed and not self.claim_wait_s):
                await asyncio.sleep(self.config.poll_s)

    async def _heartbeat_loop(self) -> None:
        while True:
            held = [*self.executing, *self.outbox.ids()]
            body = {"agent_id": self.agent_id, "held": held, **self.health()}
            try:
                response = await self._post("/internal/heartbeat", body)
                stop = response.json().get("stop", []) if response.status_code == 200 else []
            except GatewayUnavailable:
                stop = []
            for request_id in stop:
                task = self.executing.get(request_id)
                if task is not None:
                    task.cancel()
            await asyncio.sleep(self.config.heartbeat_s)

    async def _delivery_loop(self) -> None:
        failures = 0
        while True:
            pending = self.outbox.ids()
            if not pending:
                await asyncio.sleep(self.config.poll_s)
                continue
            try:
                for request_id in pending:
                    result = await asyncio.to_thread(self.outbox.get, request_id)
                    if result is not None:
                        await self._deliver(result)
                    self.outbox.remove(request_id)
                failures = 0
            except GatewayUnavailable:
                failures += 1
                delay = backoff_delay(
                    failures, self.config.backoff_base_s, self.config.backoff_max_s
                )
                await asyncio.sleep(delay)

    def start(self) -> None:
        for loop in (self._claim_loop, self._heartbeat_loop, self._delivery_loop):
            self._loops.append(asyncio.create_task(loop()))

    async def stop(self) -> None:
        """Stop claiming, cancel running jobs and give them back to the gateway at once."""
        unfinished = list(self.executing)
        tasks = [*self._loops, *self.jobs, *self.executing.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if unfinished:
            with contextlib.suppress(GatewayUnavailable):
                await self._post(
                    "/internal/release", {"agent_id": self.agent_id, "ids": unfinished}
                )
        await self.client.aclose()

    def health(self) -> dict[str, Any]:
        state = self.breaker.state
        return {
            "status": "ok" if state == CLOSED else "degraded",
            "pid": os.getpid(),
            "url": self.url,
            "started_at": self.started_at,
            "running": len(self.executing),
            "outbox": len(self.outbox),
            "delivered": self.delivered,
            "circuit_breakers": {BREAKER_NAME: state},
            "breaker_opened": self.breaker.opened_count,
            "breaker_failures": self.breaker.failures,
            "breaker_opened_after": self.breaker.opened_after,
            "dropped_results": self.dropped,
        }


def create_app(agent: Agent) -> Starlette:
    """The agent's own tiny HTTP app: ``GET /health``; runs the agent's loops in its lifespan."""

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"agent_id": agent.agent_id, **agent.health()})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        agent.start()
        try:
            yield
        finally:
            await agent.stop()

    return Starlette(routes=[Route("/health", health, methods=["GET"])], lifespan=lifespan)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m loadkit.target.agent", description="loadkit reference target: agent"
    )
    add_config_arguments(parser, AgentConfig)
    add_hold_argument(parser)
    args = parser.parse_args(argv)
    config = config_from_args(AgentConfig, args, data_dir=Path(args.data_dir).resolve())
    agent = Agent(config)
    server = prepare(create_app(agent), watch_pid=config.watch_pid)
    hold_until(args.hold_until)  # everything slow is done: down until then, up right after
    try:
        sock = bind_socket(config.host, config.port)
    except LoadkitError as exc:
        exit_with_error("agent", exc)
    port = sock.getsockname()[1]
    agent.url = f"http://{config.host}:{port}"
    write_port_file(config.data_dir / PORT_FILE, port)
    serve(server, sock)


if __name__ == "__main__":
    main()
