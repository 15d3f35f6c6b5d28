"""map_forked: the report's figures drawn by this process and a forked one, same results.

The test suite's own process is patched by gevent (Locust), where map_forked
never forks; so each case runs in a fresh interpreter, as ``loadkit report``
and ``loadkit run`` do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from loadkit.report.forked import map_forked

PRELUDE = """
import json, os, sys, time
from loadkit.report import forked
from loadkit.report.forked import map_forked
parent = os.getpid()
def square_and_pid(item):
    return item * item, os.getpid()
"""


def _run(body: str) -> object:
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_results_are_the_same_and_in_order_and_a_child_did_its_share() -> None:
    out = _run("""
        results = map_forked(square_and_pid, list(range(9)), processes=2)
        print(json.dumps({"results": results, "parent": parent}))
    """)
    assert isinstance(out, dict)
    assert [value for value, _ in out["results"]] == [k * k for k in range(9)]
    pids = {pid for _, pid in out["results"]}
    assert out["parent"] in pids and len(pids) == 2  # half of them came from the child


def test_what_a_failing_child_did_not_deliver_is_done_here() -> None:
    out = _run("""
        def job(item):
            if os.getpid() != parent:
                raise RuntimeError("the child fails")
            return square_and_pid(item)
        print(json.dumps({"results": map_forked(job, list(range(6)), processes=2),
                          "parent": parent}))
    """)
    assert isinstance(out, dict)
    assert out["results"] == [[k * k, out["parent"]] for k in range(6)]


def test_a_child_that_hangs_is_killed_and_its_share_done_here() -> None:
    started = time.monotonic()
    out = _run("""
        forked.MIN_WAIT_S = 1.0
        def job(item):
            if os.getpid() != parent:
                time.sleep(600)
            return item + 1
        results = map_forked(job, list(range(4)), processes=2)
        try:
            os.waitpid(-1, os.WNOHANG)
            left = True
        except ChildProcessError:
            left = False  # killed and reaped: no child of ours is left
        print(json.dumps({"results": results, "child_left": left}))
    """)
    assert out == {"results": [1, 2, 3, 4], "child_left": False}
    assert time.monotonic() - started < 60  # about MIN_WAIT_S, not the child's 600 s


def test_under_gevent_or_with_one_item_nothing_is_forked() -> None:
    # this process is patched by gevent (the suite imports Locust): never a fork here
    pid = os.getpid()
    assert map_forked(lambda k: (k, os.getpid()), [1, 2, 3], processes=2) == [
        (1, pid),
        (2, pid),
        (3, pid),
    ]
    out = _run("""
        print(json.dumps([map_forked(square_and_pid, [3], processes=2), parent]))
    """)
    assert isinstance(out, list)
    assert out[0] == [[9, out[1]]]
