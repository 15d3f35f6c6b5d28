"""The session activation rate limit: a token bucket per ``client_id``.

Off unless ``--session-activation-rate`` is above 0. Each client may start
``--session-activation-burst`` sessions at once; its bucket refills at the
rate (activations per second). An activation over the limit creates nothing:
``POST /sessions`` answers 429 with ``Retry-After`` (whole seconds until the
client has a token again). Buckets live in memory (a restart refills them all).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ActivationLimit"]

# Buckets of clients idle this long are full again: forget them (bounded memory).
FORGET_AFTER_S = 600.0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class ActivationLimit:
    """``take(client_id)``: 0.0 when the activation may go ahead, else seconds to wait."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.clock = clock
        self.refused = 0  # activations answered 429 (for tests and health)
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def take(self, client_id: str) -> float:
        if not self.enabled:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(client_id)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[client_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        self.refused += 1
        return (1.0 - bucket.tokens) / self.rate_per_s

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """The ``Retry-After`` header for a wait: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait_s)))

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < 1000:
            return
        for client_id, bucket in list(self._buckets.items()):
            if now - bucket.updated > FORGET_AFTER_S:
                del self._buckets[client_id]
