"""A profile-driven JobUser versus the hand-written one, making the same calls.

Both run echo jobs against the real reference target (started here on
127.0.0.1) with ``locustfiles/workspace.py --job-tasks echo``, ``--users``
users and no think time:

* ``handwritten``: ``--user-profile builtin`` (the Python adapter,
  :class:`loadkit.users.profile.builtin.BuiltinJobs`);
* ``profile``: ``--user-profile builtin-yaml`` (the same calls described in
  YAML: path and body templates, JMESPath fields, a state mapping).

Runs are interleaved A B A B ... in one invocation; each is measured as in
``workspace_vs_fasthttp.py`` (HTTP requests per CPU-second of the Locust
process over ``--window`` seconds after a warm-up). Prints one JSON object:
the median of the per-pair ratios profile/handwritten (aim: >= 0.97), and the
adapters' own CPU per call measured in-process against a canned answer (no
network: what the YAML form costs on top of the request itself).

    .venv/bin/python bench/profile_overhead.py [--rounds 7] [--window 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from workspace_vs_fasthttp import ROOT, measure

from loadkit.target.launcher import start_target
from loadkit.users.profile.loader import load_profile

CANNED = {
    "/execute": (202, '{"request_id": "abc", "workspace": "w", "state": "queued"}'),
    "/status": (200, '{"request_id": "abc", "state": "processing", "error": null}'),
    "/responses": (200, '{"request_id": "abc", "output": "hello"}'),
}


class _Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text

    def json(self) -> Any:
        return json.loads(self.text)

    def failure(self, message: str) -> None:
        raise AssertionError(message)

    def success(self) -> None:
        pass

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _CannedClient:
    def request(self, method: str, url: str, **kwargs: Any) -> _Answer:
        prefix = "/" + url.split("/")[1]
        return _Answer(*CANNED[prefix])


def adapter_us_per_call(reference: str, calls: int = 20000) -> dict[str, float]:
    """CPU microseconds per submit / status / output of a profile's JobAPI, no network."""
    api, client = load_profile(reference).jobs, _CannedClient()
    steps = {
        "submit": lambda: api.submit(client, workspace="w", command="echo hi"),
        "status": lambda: api.status(client, "abc"),
        "output": lambda: api.output(client, "abc"),
    }
    out = {}
    for name, step in steps.items():
        started = time.process_time()
        for _ in range(calls):
            step()
        out[name] = round((time.process_time() - started) / calls * 1e6, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="A/B pairs (default 7)")
    parser.add_argument("--users", type=int, default=8, help="users per run (default 8)")
    parser.add_argument("--poll", type=float, default=0.02, help="status poll interval, s")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured per run")
    args = parser.parse_args()

    common = ["-f", str(ROOT / "locustfiles" / "workspace.py"), "--job-tasks", "echo",
              "--job-wait", "0", "--job-poll-interval", str(args.poll)]  # fmt: skip
    variants = {
        "handwritten": [*common, "--user-profile", "builtin"],
        "profile": [*common, "--user-profile", "builtin-yaml"],
    }
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="loadkit-bench-profile-") as tmp:
        workdir = Path(tmp)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        with start_target(workdir / "target", concurrency=8) as target:
            for _ in range(args.rounds):
                for name, variant_args in variants.items():
                    results[name].append(
                        measure(variant_args, target.url, workdir, args.users, args.warmup,
                                args.window)
                    )  # fmt: skip
    ratios = [
        p["per_core"] / h["per_core"]
        for p, h in zip(results["profile"], results["handwritten"], strict=True)
    ]

    def median(name: str, key: str) -> float:
        return round(statistics.median(r[key] for r in results[name]), 1)

    print(
        json.dumps(
            {
                "figure": "profile_overhead",
                "ratio_median": round(statistics.median(ratios), 3),
                "ratios": [round(r, 3) for r in ratios],
                "handwritten_req_per_core_s": median("handwritten", "per_core"),
                "profile_req_per_core_s": median("profile", "per_core"),
                "handwritten_rps": median("handwritten", "rps"),
                "profile_rps": median("profile", "rps"),
                "failures": sum(r["failures"] for rs in results.values() for r in rs),
                "rounds": args.rounds,
                "users": args.users,
                "window_s": args.window,
                "adapter_us_per_call": {
                    "handwritten": adapter_us_per_call("builtin"),
                    "profile": adapter_us_per_call("builtin-yaml"),
                },
                "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg()[:1])],
            }
        )
    )


if __name__ == "__main__":
    main()
