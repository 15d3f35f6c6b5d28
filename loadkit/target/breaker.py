"""A circuit breaker and an exponential backoff for the agent's calls to the gateway.

The breaker is ``closed`` while calls succeed; after ``failure_threshold``
consecutive failures it is ``open`` (no calls) for ``open_s``; then
``half_open``: exactly one trial call is let through, whose success closes it
and whose failure opens it again. ``opened_after`` is the number of consecutive
failures that opened it from ``closed`` (None while it is closed), so a probe can
tell that it opened at its threshold. ``never_opens`` (the agent's
``break_breaker_never_opens``) breaks it on purpose: it counts failures but
stays closed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitBreaker", "backoff_delay"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 3,
        open_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        never_opens: bool = False,
    ) -> None:
        self.never_opens = never_opens
        self.failure_threshold = max(1, failure_threshold)
        self.open_s = open_s
        self.clock = clock
        self.failures = 0
        self.opened_count = 0
        self.opened_after: int | None = None
        self._open = False
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if not self._open:
            return CLOSED
        return HALF_OPEN if self.clock() - self._opened_at >= self.open_s else OPEN

    def allow(self) -> bool:
        """May a call go out now? In ``half_open`` only one trial at a time."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_after = None
        self._open = False
        self._trial_in_flight = False

    def failure(self) -> None:
        self.failures += 1
        if self.never_opens:
            return
        if self._trial_in_flight or self.failures >= self.failure_threshold:
            if not self._open or self._trial_in_flight:
                self.opened_count += 1
            if not self._open:
                self.opened_after = self.failures
            self._open = True
            self._opened_at = self.clock()
        self._trial_in_flight = False


def backoff_delay(attempt: int, base_s: float, max_s: float, jitter: float = 0.5) -> float:
    """Delay before retry number ``attempt`` (1, 2, ...): doubling, capped, with jitter."""
    delay = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return delay * (1 - jitter * random.random())
