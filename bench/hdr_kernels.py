"""Time the compiled loops of large logs (loadkit/rundir/hdr_kernels.py) on one block.

    .venv/bin/python bench/hdr_kernels.py --streams 30000
    .venv/bin/python bench/hdr_kernels.py --ref /tmp/old/hdr_kernels.py   # against a copy

Builds ``--streams`` interval histograms (a few hundred distinct ones, 2,000
log-normal latencies each, 3 significant figures, as loadkit records them),
concatenates their varint streams into one block as the streamed reader does,
and times ``decode_streams``, ``survey_streams`` and ``decode_scatter`` (one
target of 64 columns), best of ``--rounds`` after a warm-up. With ``--ref``,
the same on another copy of the module (e.g. the previous commit's), checked
to give the same numbers. Prints one JSON object; milliseconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

import loadkit.rundir.hdr_kernels as current
from loadkit.rundir.hdr_codec import layout_for, unwrap

HIGHEST = 3_600_000_000
DISTINCT = 300
COLUMNS = 64


def _block(streams: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(1)
    distinct = []
    for _ in range(DISTINCT):
        histogram = HdrHistogram(1, HIGHEST, 3)
        for value in rng.lognormal(9, 1.5, 2000).astype(np.int64) + 1:
            histogram.record_value(int(min(value, HIGHEST)))
        distinct.append(unwrap(histogram.encode().decode())[1])
    chosen = [distinct[i % DISTINCT] for i in range(streams)]
    sizes = np.array([len(s) for s in chosen], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    return np.frombuffer(b"".join(chosen), dtype=np.uint8), starts, sizes


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("hdr_kernels_ref", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # numba's disk cache finds the module by name
    spec.loader.exec_module(module)
    return module


def _time(kernels: ModuleType, block: tuple[Any, Any, Any], rounds: int) -> dict[str, Any]:
    data, starts, sizes = block
    counts_len = layout_for(1, 1 << 62, 3).counts_len
    table = np.arange(counts_len) % COLUMNS
    offsets = np.arange(len(starts)) * COLUMNS

    def scatter() -> np.ndarray[Any, Any]:
        target = np.zeros((len(starts), COLUMNS))
        kernels.decode_scatter(data, starts, sizes, counts_len, [(target, offsets, table)])
        return target

    calls = {
        "decode_streams_ms": lambda: kernels.decode_streams(data, starts, sizes, counts_len),
        "survey_streams_ms": lambda: kernels.survey_streams(data, starts, sizes, counts_len),
        "decode_scatter_ms": scatter,
    }
    out: dict[str, Any] = {}
    for name, call in calls.items():
        out["_" + name] = call()  # warm-up (compiles or loads the cache); kept to compare
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - started)
        out[name] = round(best * 1000, 1)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(np.array_equal(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ref", type=Path, help="another copy of hdr_kernels.py to compare")
    args = parser.parse_args()
    block = _block(args.streams)
    result: dict[str, Any] = {"streams": args.streams, "block_bytes": int(block[0].nbytes)}
    now = _time(current, block, args.rounds)
    result["current"] = {k: v for k, v in now.items() if not k.startswith("_")}
    if args.ref is not None:
        ref = _time(_load(args.ref), block, args.rounds)
        result["ref"] = {k: v for k, v in ref.items() if not k.startswith("_")}
        result["ref_path"] = str(args.ref)
        result["same_numbers"] = all(_same(now[k], ref[k]) for k in now if k.startswith("_"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
