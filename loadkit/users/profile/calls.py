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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jmespath
import jmespath.exceptions
import jmespath.parser

from loadkit.users.events import CheckFailed
from loadkit.users.http import HttpClient, call_json

__all__ = ["Call", "compile_query", "env_names", "expand_env", "fill_body", "placeholders"]

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


def compile_query(text: str) -> jmespath.parser.ParsedResult:
    """A JMESPath expression, compiled; ValueError with the parser's reason."""
    try:
        return jmespath.compile(text)
    except jmespath.exceptions.JMESPathError as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(f"{text!r} is not a JMESPath query ({reason})") from None


def _fill(template: str, values: Mapping[str, Any]) -> str:
    return expand_env(template).format_map({k: "" if v is None else v for k, v in values.items()})


def fill_body(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        names = placeholders(template)
        if len(names) == 1 and template.strip() == "{" + next(iter(names)) + "}":
            return values.get(next(iter(names)))
        return _fill(template, values)
    if isinstance(template, dict):
        out = {}
        for key, item in template.items():
            value = fill_body(item, values)
            if value is not None:
                out[key] = value
        return out
    if isinstance(template, list):
        return [fill_body(item, values) for item in template]
    return template


@dataclass(frozen=True)
class Call:
    """One call: ``method path`` with an optional body, expecting one of ``expect``."""

    method: str
    path: str
    expect: tuple[int, ...] = (200,)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, jmespath.parser.ParsedResult] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The request name: the path template with ``{id}`` shown as ``[id]``."""
        return re.sub(r"(?<!\$)\{(\w+)\}", r"[\1]", self.path)

    def send(self, client: HttpClient, values: Mapping[str, Any]) -> dict[str, Any]:
        """Make the call; the answer's JSON object."""
        safe = {k: quote(str(v), safe="") if v is not None else "" for k, v in values.items()}
        path = expand_env(self.path).format_map(safe)
        headers = {key: expand_env(value) for key, value in self.headers.items()}
        body = None if self.body is None else fill_body(self.body, values)
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

    def send_status(self, client: HttpClient, values: Mapping[str, Any]) -> int:
        """Make the call; its HTTP status (one of ``expect``, else CheckFailed)."""
        safe = {k: quote(str(v), safe="") if v is not None else "" for k, v in values.items()}
        path = expand_env(self.path).format_map(safe)
        headers = {key: expand_env(value) for key, value in self.headers.items()}
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
