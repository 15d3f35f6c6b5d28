"""Toxic types and the toxic JSON model, validated the way Toxiproxy's API does.

A toxic is ``{"name", "type", "stream", "toxicity", "attributes"}``, plus
``owner`` when the client sent one (see :mod:`loadkit.proxy.owner`). ``stream``
is ``upstream`` (client -> server) or ``downstream`` (server -> client, the
default); ``toxicity`` is the probability (0..1, default 1) that the toxic
applies to a given connection; ``name`` defaults to ``<type>_<stream>``.
Every attribute is a non-negative integer; missing ones default to 0.

How each toxic changes the bytes lives in :mod:`loadkit.proxy.link`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadkit.proxy.apierror import (
    BAD_REQUEST_BODY,
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_ALREADY_EXISTS,
)
from loadkit.proxy.owner import Owner

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
STREAMS = (UPSTREAM, DOWNSTREAM)


@dataclass(frozen=True)
class ToxicType:
    """A toxic type: its attributes (name -> unit) and what it does."""

    name: str
    attributes: Mapping[str, str]
    summary: str


TOXIC_TYPES: dict[str, ToxicType] = {
    t.name: t
    for t in (
        ToxicType("latency", {"latency": "ms", "jitter": "ms"}, "delay data by latency +/- jitter"),
        ToxicType("bandwidth", {"rate": "KB/s"}, "limit throughput to rate KB/s (0 = no limit)"),
        ToxicType("slow_close", {"delay": "ms"}, "delay the close of the socket by delay"),
        ToxicType(
            "timeout",
            {"timeout": "ms"},
            "drop all data; close after timeout (0 = hold until the toxic is removed)",
        ),
        ToxicType(
            "reset_peer", {"timeout": "ms"}, "reset the connection (TCP RST) timeout after data"
        ),
        ToxicType(
            "slicer",
            {"average_size": "bytes", "size_variation": "bytes", "delay": "µs"},
            "slice data into small writes, delay µs apart",
        ),
        ToxicType("limit_data", {"bytes": "bytes"}, "close the connection after bytes"),
    )
}


@dataclass
class Toxic:
    """One toxic on a proxy. ``attributes`` and ``toxicity`` change on update."""

    name: str
    type: str
    stream: str
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)
    owner: Owner | None = None  # removed by the proxy when this process is gone

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }
        if self.owner is not None:
            body["owner"] = self.owner.to_json()
        return body

    def attr(self, name: str) -> int:
        return self.attributes.get(name, 0)


def parse_new_toxic(body: Any, exists: Callable[[str], bool]) -> Toxic:
    """A new toxic from a ``POST /proxies/{proxy}/toxics`` body.

    Checks run in Toxiproxy's order: body shape, stream, type, duplicate name,
    then attributes, so each mistake gets the status code Toxiproxy gives it.
    """
    if not isinstance(body, dict):
        raise BAD_REQUEST_BODY.caused_by("expected a JSON object")
    name = _string(body, "name", "")
    type_name = _string(body, "type", "")
    stream = _string(body, "stream", DOWNSTREAM).lower()
    toxicity = _toxicity(body.get("toxicity", 1.0))
    if stream not in STREAMS:
        raise INVALID_STREAM
    if not name:
        name = f"{type_name}_{stream}"
    if type_name not in TOXIC_TYPES:
        raise INVALID_TOXIC_TYPE
    if exists(name):
        raise TOXIC_ALREADY_EXISTS
    attributes = parse_attributes(type_name, body.get("attributes"), base=None)
    owner = Owner.from_json(body.get("owner"))
    return Toxic(name, type_name, stream, toxicity, attributes, owner)


def parse_toxic_update(toxic: Toxic, body: Any) -> tuple[dict[str, int], float]:
    """New (attributes, toxicity) for ``toxic`` from an update body.

    As in Toxiproxy, attributes not given keep their value; name, type and
    stream cannot change.
    """
    if not isinstance(body, dict):
        raise BAD_REQUEST_BODY.caused_by("expected a JSON object")
    toxicity = _toxicity(body.get("toxicity", toxic.toxicity))
    attributes = parse_attributes(toxic.type, body.get("attributes"), base=toxic.attributes)
    return attributes, toxicity


def parse_attributes(type_name: str, raw: Any, base: Mapping[str, int] | None) -> dict[str, int]:
    """Validated attributes of a ``type_name`` toxic; unknown keys are ignored."""
    spec = TOXIC_TYPES[type_name]
    values = {key: 0 for key in spec.attributes} if base is None else dict(base)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BAD_REQUEST_BODY.caused_by("attributes must be a JSON object")
    for key, unit in spec.attributes.items():
        if key in raw:
            values[key] = _non_negative_int(key, raw[key], unit)
    if type_name == "slicer":
        if values["average_size"] < 1:
            raise BAD_REQUEST_BODY.caused_by(
                "attributes.average_size must be at least 1 byte for a slicer"
            )
        if values["size_variation"] >= values["average_size"]:
            raise BAD_REQUEST_BODY.caused_by(
                "attributes.size_variation must be smaller than attributes.average_size"
            )
    return values


def _string(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BAD_REQUEST_BODY.caused_by(f"{key} must be a string, not {value!r}")
    return value


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BAD_REQUEST_BODY.caused_by(f"toxicity must be a number from 0 to 1, not {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise BAD_REQUEST_BODY.caused_by(f"toxicity must be from 0 to 1, not {value!r}")
    return float(value)


def _non_negative_int(key: str, value: Any, unit: str) -> int:
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral:
        raise BAD_REQUEST_BODY.caused_by(
            f"attributes.{key} must be a whole number of {unit}, not {value!r}"
        )
    if value < 0:
        raise BAD_REQUEST_BODY.caused_by(f"attributes.{key} must be >= 0 {unit}, not {value!r}")
    return int(value)
