"""One HTTP call of a YAML profile: method, path and body templates, headers, fields read.

Templates use ``{name}`` placeholders for the values loadkit supplies
(``{id}``, ``{workspace}``, ``{command}``...) and ``${NAME}`` for environment
variables (secrets). A body value that is exactly ``"{name}"`` keeps the
value's type and is left out when the value is absent. Fields are read from
the JSON answer with JMESPath expressions, compiled when the profile loads.

Secrets are expanded only when a request is made: the request name, every
message and everything loadkit records use the template.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import jmespath
import jmespath.exceptions

from loadkit.users.events import CheckFailed
from loadkit.users.http import HttpClient, call_json

__all__ = [
    "Call",
    "Query",
    "YamlAdapter",
    "compile_body",
    "compile_query",
    "env_names",
    "expand_env",
    "fill_body",
    "placeholders",
]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FORMATTER = string.Formatter()


def env_names(text: str) -> list[str]:
    return _ENV_RE.findall(text)


def expand_env(text: str) -> str:
    """``${NAME}`` → the environment variable (checked present when the profile loaded)."""
    return _ENV_RE.sub(lambda m: os.environ.get(m.group(1), ""), text)


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders of ``template`` (``${ENV}`` aside); ValueError if malformed."""
    names = set()
    for _, name, spec, conversion in _FORMATTER.parse(_ENV_RE.sub("", template)):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a plain placeholder")
        names.add(name)
    return names


class Query:
    """A compiled JMESPath expression; plain dotted field paths are read without the interpreter.

    Both give the same answer (JMESPath's ``a.b`` is ``None`` where ``a`` is not
    an object); the plain path skips the tree walk on every poll.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self.parsed = jmespath.compile(text)
        except jmespath.exceptions.JMESPathError as exc:
            reason = str(exc).splitlines()[0]
            raise ValueError(f"{text!r} is not a JMESPath query ({reason})") from None
        self.keys = _field_path(self.parsed.parsed)

    def search(self, data: Any) -> Any:
        if self.keys is None:
            return self.parsed.search(data)
        for key in self.keys:
            if not isinstance(data, dict):
                return None
            data = data.get(key)
        return data


def _field_path(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    if node.get("type") == "field":
        return (str(node["value"]),)
    if node.get("type") == "subexpression":
        parts = [_field_path(child) for child in node.get("children", ())]
        if all(part is not None for part in parts):
            return tuple(key for part in parts if part is not None for key in part)
    return None


def compile_query(text: str) -> Query:
    """A JMESPath expression, compiled; ValueError with the parser's reason."""
    return Query(text)


Builder = Callable[[Mapping[str, Any]], Any]


def compile_body(template: Any) -> Builder:
    """A function of the values giving the body: ``"{x}"`` keeps x's type, None is left out."""
    if isinstance(template, str):
        names = placeholders(template)
        if len(names) == 1 and template.strip() == "{" + next(iter(names)) + "}":
            name = next(iter(names))
            return lambda values: values.get(name)
        text = expand_env(template)
        if not names:
            return lambda values: text
        return lambda values: text.format_map(
            {k: "" if values.get(k) is None else values[k] for k in names}
        )
    if isinstance(template, dict):
        items = [(key, compile_body(item)) for key, item in template.items()]

        def build_object(values: Mapping[str, Any]) -> Any:
            out = {}
            for key, build in items:
                value = build(values)
                if value is not None:
                    out[key] = value
            return out

        return build_object
    if isinstance(template, list):
        parts = [compile_body(item) for item in template]
        return lambda values: [build(values) for build in parts]
    return lambda values: template


def fill_body(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` filled in with ``values`` (see :func:`compile_body`)."""
    return compile_body(template)(values)


@dataclass(frozen=True)
class Call:
    """One call: ``method path`` with an optional body, expecting one of ``expect``."""

    method: str
    path: str
    expect: tuple[int, ...] = (200,)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, Query] = field(default_factory=dict)

    @cached_property
    def name(self) -> str:
        """The request name: the path template with ``{id}`` shown as ``[id]``."""
        return re.sub(r"(?<!\$)\{(\w+)\}", r"[\1]", self.path)

    @cached_property
    def _path(self) -> tuple[str, frozenset[str]]:
        return expand_env(self.path), frozenset(placeholders(self.path))

    @cached_property
    def _headers(self) -> dict[str, str]:
        return {key: expand_env(value) for key, value in self.headers.items()}

    @cached_property
    def _body(self) -> Builder | None:
        return None if self.body is None else compile_body(self.body)

    def _target(
        self, values: Mapping[str, Any], extra_headers: Mapping[str, str] | None
    ) -> tuple[str, dict[str, str]]:
        template, names = self._path
        path = template.format_map(
            {k: "" if values.get(k) is None else quote(str(values[k]), safe="") for k in names}
        )
        headers = {**self._headers, **extra_headers} if extra_headers else self._headers
        return path, headers

    def prepare(
        self, values: Mapping[str, Any], extra_headers: Mapping[str, str] | None = None
    ) -> tuple[str, dict[str, str], Any]:
        """The path, headers (secrets expanded) and JSON body of this call with ``values``.

        For callers outside Locust (the loss audit, probes), which send it themselves.
        """
        path, headers = self._target(values, extra_headers)
        return path, dict(headers), None if self._body is None else self._body(values)

    def send(
        self,
        client: HttpClient,
        values: Mapping[str, Any],
        extra_headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Make the call; the answer's JSON object."""
        path, headers = self._target(values, extra_headers)
        body = None if self._body is None else self._body(values)
        return call_json(
            client,
            self.method,
            path,
            name=self.name,
            expect=self.expect,
            body=body,
            headers=headers,
            shown=f"{self.method} {self.name}",
        )

    def read(self, data: Mapping[str, Any], name: str) -> Any:
        """Field ``name`` of an answer (None when the profile reads no such field)."""
        query = self.fields.get(name)
        return None if query is None else query.search(data)

    def send_status(
        self,
        client: HttpClient,
        values: Mapping[str, Any],
        extra_headers: Mapping[str, str] | None = None,
    ) -> int:
        """Make the call; its HTTP status (one of ``expect``, else CheckFailed)."""
        path, headers = self._target(values, extra_headers)
        with client.request(
            self.method, path, name=self.name, headers=headers, catch_response=True
        ) as resp:
            code = int(resp.status_code)
            if code not in self.expect:
                message = f"{self.method} {self.name}: HTTP {code}, expected one of {self.expect}"
                resp.failure(message)
                raise CheckFailed(message)
            resp.success()
            return code


class YamlAdapter:
    """Base of the YAML adapters: every call goes through :meth:`send`.

    Override :meth:`extra_headers` for what YAML cannot say (a request
    signature, a token from a multi-step login); it sees the call and the
    values it is made with.

    ``profile_reference`` is the profile the adapter was read from (set by the
    loader; recorded with the work it makes, so the loss audit asks through it).
    """

    profile_reference: str | None = None

    def extra_headers(self, call: Call, values: Mapping[str, Any]) -> Mapping[str, str]:
        return {}

    def send(self, client: HttpClient, call: Call, values: Mapping[str, Any]) -> dict[str, Any]:
        return call.send(client, values, self.extra_headers(call, values))

    def send_status(self, client: HttpClient, call: Call, values: Mapping[str, Any]) -> int:
        return call.send_status(client, values, self.extra_headers(call, values))
