"""A long-polling claim ends when its agent hangs up, so the gateway stops at once.

Before, an abandoned claim kept waiting its ``wait_s`` and held the gateway's
shutdown until uvicorn's graceful-shutdown timeout cancelled it (and said so in
the gateway's log).
"""

from __future__ import annotations

import contextlib

import httpx

from loadkit.target.launcher import RunningTarget

CANCELLED = "timeout graceful shutdown exceeded"  # uvicorn's warning when it gives up waiting


def test_the_gateway_stops_without_waiting_for_an_abandoned_long_poll(
    target: RunningTarget,
) -> None:
    target.agent.stop()  # nobody else claims; the gateway's doorbell stays silent
    body = {"agent_id": "gone", "max": 1, "wait_s": 30}
    with contextlib.suppress(httpx.TimeoutException):  # the client hangs up after 0.5 s
        httpx.post(f"{target.url}/internal/claim", json=body, timeout=0.5)
    target.gateway.stop(timeout_s=60.0)  # SIGTERM: uvicorn drains in-flight requests first
    assert target.gateway.child is not None and target.gateway.child.returncode is not None
    log = (target.data_dir / "logs" / "gateway.log").read_text(encoding="utf-8", errors="replace")
    assert CANCELLED not in log, log[-2000:]
