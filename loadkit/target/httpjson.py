"""JSON in and out for the gateway's routes: bounded body reads and 4xx errors.

Every error the API returns has the shape ``{"error": "<one line>", "field":
"<field or null>"}``. Handlers raise :class:`ApiError`; :func:`json_endpoint`
turns it into that response, so a bad input can never become a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "NAME_PATTERN",
    "ApiError",
    "error_response",
    "json_endpoint",
    "optional_int",
    "optional_str",
    "read_json_object",
    "require_name",
    "require_str",
]

# Names of workspaces, repos, tasks: [A-Za-z0-9_.-]{1,64}, not starting with '.'.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


class ApiError(Exception):
    """A 4xx answer: ``status``, one-line ``message``, the ``field`` at fault, extra body keys."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra or {}
        self.headers = headers


def error_response(exc: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"error": exc.message, "field": exc.field, **exc.extra}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def json_endpoint(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a route handler so :class:`ApiError` becomes its JSON 4xx answer."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 above ``max_bytes``, 400 when not an object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"body is larger than {max_bytes} bytes", None)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"body is larger than {max_bytes} bytes", None)
    if not body:
        raise ApiError(400, "body must be a JSON object, got an empty body", None)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}", None) from None
    if not isinstance(data, dict):
        raise ApiError(400, f"body must be a JSON object, got {type(data).__name__}", None)
    if _SURROGATE_ESCAPE.search(body):
        _reject_lone_surrogates(data)
    return data


# A JSON \uD800-\uDFFF escape: half of a pair (fine) or a lone surrogate (not storable).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_lone_surrogates(data: dict[str, Any]) -> None:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, "body holds a lone UTF-16 surrogate (\\uD800-\\uDFFF); send valid Unicode", None
        ) from None


def require_str(data: dict[str, Any], field: str, max_len: int = 256) -> str:
    """A required non-empty string field of at most ``max_len`` characters."""
    value = data.get(field)
    if value is None:
        raise ApiError(400, f"'{field}' is required", field)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"'{field}' must be a non-empty string", field)
    if len(value) > max_len:
        raise ApiError(400, f"'{field}' is longer than {max_len} characters", field)
    return value


def optional_str(
    data: dict[str, Any], field: str, max_len: int = 256, allow_empty: bool = False
) -> str | None:
    """An optional string field (absent or null gives None)."""
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or (not value and not allow_empty):
        kind = "a string" if allow_empty else "a non-empty string"
        raise ApiError(400, f"'{field}' must be {kind}", field)
    if len(value) > max_len:
        raise ApiError(400, f"'{field}' is longer than {max_len} characters", field)
    return value


def require_name(value: str, field: str) -> str:
    """A path name (repo, task id): ``[A-Za-z0-9_.-]{1,64}``, not starting with '.'."""
    if not NAME_PATTERN.fullmatch(value):
        raise ApiError(
            400,
            f"'{field}' must match [A-Za-z0-9_.-]{{1,64}} and not start with '.',"
            f" got {value!r:.80}",
            field,
        )
    return value


def optional_int(data: dict[str, Any], field: str, minimum: int = 0) -> int | None:
    """An optional integer field >= ``minimum`` (booleans are not integers)."""
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ApiError(400, f"'{field}' must be an integer >= {minimum}", field)
    return value
