"""Sample probes on the master for the whole run, into ``<run-dir>/probes.jsonl``.

One greenlet per probe GETs its URL (or makes its profile call) every ``every_s``
(on a fixed grid from its start, so a slow answer does not shift later samples), reads the fields
with JMESPath and appends one line per sample::

    {"t": 1795000001.25, "probe": "breaker", "ok": true, "status": 200, "ms": 3.1,
     "values": {"state": "open"}, "error": null}

``t`` is when the answer arrived (epoch seconds). A probe that fails (no
answer, a timeout, a status >= 400, not JSON) is a sample too, with ``ok``
false, ``values`` empty and ``error`` saying why: the service being down is
what probes are for, never a crash. A field the answer lacks is ``null``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gevent
import httpx
import jmespath

from loadkit.probes.model import ProbeSpec
from loadkit.rundir.jsonl import JsonLines
from loadkit.rundir.layout import PROBES_JSONL
from loadkit.users.profile.calls import Call

__all__ = ["PROBES_FILE", "ProbeSampler", "sample_once"]

log = logging.getLogger(__name__)

PROBES_FILE = PROBES_JSONL
MAX_BODY_BYTES = 4 * 1024 * 1024
BaseUrl = Callable[[ProbeSpec], str | None]


def _jsonable(value: Any) -> Any:
    """A JMESPath result as written to the file (scalars as they are; others as JSON)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.loads(json.dumps(value, default=str))


def _send(
    probe: ProbeSpec, client: httpx.Client, base: str, calls: Mapping[str, Call]
) -> httpx.Response:
    if probe.call is None:
        return client.get(probe.url(base), timeout=probe.timeout_s)
    call = calls.get(probe.call)
    if call is None:
        raise LookupError(f"the service profile has no call {probe.call!r}")
    path, headers, body = call.prepare({})
    url = f"{base.rstrip('/')}{path}"
    return client.request(call.method, url, headers=headers, json=body, timeout=probe.timeout_s)


def sample_once(
    probe: ProbeSpec,
    client: httpx.Client,
    base: str | None,
    calls: Mapping[str, Call] | None = None,
) -> dict[str, Any]:
    """Sample the probe once (its GET, or its call of ``calls``); the record (never raises)."""
    started = time.perf_counter()
    record: dict[str, Any] = {"probe": probe.name, "ok": False, "status": None, "values": {}}
    try:
        if base is None and probe.relative:
            raise LookupError("no base URL for a path (no --host, or no target.json)")
        response = _send(probe, client, base or "", calls or {})
        record["status"] = response.status_code
        if response.status_code >= 400:
            raise LookupError(f"HTTP {response.status_code}")
        if len(response.content) > MAX_BODY_BYTES:
            raise LookupError(f"answer larger than {MAX_BODY_BYTES} bytes")
        data = response.json()
        record["values"] = {
            name: _jsonable(jmespath.search(expression, data))
            for name, expression in probe.fields.items()
        }
        record["ok"], record["error"] = True, None
    except httpx.TimeoutException:
        record["error"] = f"no answer within {probe.timeout_s:g}s"
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except ValueError:
        record["error"] = "the answer is not JSON"
    except Exception as exc:  # a probe must never take the run down
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["ms"] = round((time.perf_counter() - started) * 1000.0, 3)
    record["t"] = time.time()
    return record


class ProbeSampler:
    """Runs every probe of a run as its own greenlet until :meth:`stop`."""

    def __init__(
        self,
        probes: tuple[ProbeSpec, ...],
        base_url: BaseUrl,
        calls: Mapping[str, Call] | None = None,
    ) -> None:
        self.probes = probes
        self.base_url = base_url
        self.calls: Mapping[str, Call] = calls or {}
        self._greenlets: list[gevent.Greenlet[Any, Any]] = []
        self._out: JsonLines | None = None
        self.samples = 0

    @property
    def running(self) -> bool:
        return any(not g.dead for g in self._greenlets)

    def start(self, run_dir: Path) -> None:
        self.stop()
        self._out = JsonLines(run_dir / PROBES_FILE)
        self._greenlets = [gevent.spawn(self._loop, probe) for probe in self.probes]

    def _loop(self, probe: ProbeSpec) -> None:
        client = httpx.Client(follow_redirects=False)
        start = time.monotonic()
        ticks = 0
        try:
            while True:
                record = sample_once(probe, client, self.base_url(probe), self.calls)
                if self._out is not None:
                    self._out.append(record)
                    self.samples += 1
                ticks = max(ticks + 1, int((time.monotonic() - start) / probe.every_s) + 1)
                gevent.sleep(max(0.0, start + ticks * probe.every_s - time.monotonic()))
        finally:
            client.close()

    def stop(self) -> None:
        """Stop sampling (a last sample already written stays); closes the file."""
        for greenlet in self._greenlets:
            greenlet.kill(block=True, timeout=5)
        self._greenlets = []
        if self._out is not None:
            self._out.close()
            self._out = None
