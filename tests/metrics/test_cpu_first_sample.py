"""Regression (issue 15): the first CPU sample of the Locust master read 270 % on 2 cores.

A CPU percentage over the few milliseconds between priming and the first sample is
noise; it is written as nan (a gap), and later samples stay within the machine's cores.
"""

from __future__ import annotations

import math
import os
import time

import psutil

from loadkit.metrics.resources import MIN_CPU_WINDOW_S, ProcessCollector


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))


def test_first_cpu_sample_right_after_priming_is_not_a_number() -> None:
    collector = ProcessCollector("me", os.getpid())
    _busy(0.02)  # busy between priming and the first sample, like the master at test start
    first = collector.sample()
    assert first is not None and math.isnan(first.cpu_percent)
    assert first.rss_bytes > 0
    _busy(MIN_CPU_WINDOW_S + 0.1)
    later = collector.sample()
    assert later is not None
    assert 0.0 <= later.cpu_percent <= 100.0 * (psutil.cpu_count() or 1) + 5.0
