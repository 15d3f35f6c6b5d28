"""Time the compiled loops of large logs (loadkit/rundir/hdr_kernels.py) on one block.

    .venv/bin/python bench/hdr_kernels.py --streams 30000
    .venv/bin/python bench/hdr_kernels.py --ref /tmp/old/hdr_kernels.py   # against a copy

Builds ``--streams`` interval histograms (a few hundred distinct ones, 2,000
log-normal latencies each, 3 significant figures, as loadkit records them),
concatenates their varint streams into one block as the streamed reader does,
and times ``decode_streams``, ``survey_streams`` and ``decode_scatter`` (one
target of 64 columns), best of ``--rounds`` after a warm-up. With ``--ref``,
the same on another copy of the module (e.g. the previous commit's), the two
taking turns within each round, checked to give the same numbers. Prints one
JSON object; milliseconds.
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


def _calls(kernels: ModuleType, block: tuple[Any, Any, Any]) -> dict[str, Any]:
    data, starts, sizes = block
    counts_len = layout_for(1, 1 << 62, 3).counts_len
    table = np.arange(counts_len) % COLUMNS
    offsets = np.arange(len(starts)) * COLUMNS

    def scatter() -> np.ndarray[Any, Any]:
        target = np.zeros((len(starts), COLUMNS))
        kernels.decode_scatter(data, starts, sizes, counts_len, [(target, offsets, table)])
        return target

    return {
        "decode_streams_ms": lambda: kernels.decode_streams(data, starts, sizes, counts_len),
        "survey_streams_ms": lambda: kernels.survey_streams(data, starts, sizes, counts_len),
        "decode_scatter_ms": scatter,
    }


def _time(modules: dict[str, ModuleType], block: tuple[Any, Any, Any], rounds: int) -> Any:
    """Best of ``rounds`` per module and loop; the modules take turns (in a rotating
    order) within each round, so a busy moment of a shared machine hits them alike."""
    calls = {name: _calls(module, block) for name, module in modules.items()}
    outputs = {name: {k: call() for k, call in c.items()} for name, c in calls.items()}  # warm
    best: dict[str, dict[str, float]] = {name: {} for name in modules}
    order = list(modules)
    for _ in range(rounds):
        order = order[1:] + order[:1]
        for loop in outputs[order[0]]:
            for name in order:
                started = time.perf_counter()
                calls[name][loop]()
                took = (time.perf_counter() - started) * 1000
                best[name][loop] = round(min(best[name].get(loop, took), took), 1)
    return best, outputs


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
    modules = {"current": current}
    if args.ref is not None:
        modules["ref"] = _load(args.ref)
        result["ref_path"] = str(args.ref)
    best, outputs = _time(modules, block, args.rounds)
    result.update(best)
    if args.ref is not None:
        result["same_numbers"] = all(
            _same(outputs["current"][loop], outputs["ref"][loop]) for loop in outputs["current"]
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
