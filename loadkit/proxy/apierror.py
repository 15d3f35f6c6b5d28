"""Errors of the proxy API, with the same messages and status codes as Toxiproxy.

A Toxiproxy error body is ``{"error": MESSAGE, "status": CODE}``. Messages that
wrap a cause read ``"<base message>: <cause>"`` (Toxiproxy's ``joinError``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ApiError(Exception):
    """An API failure that becomes ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def caused_by(self, cause: str) -> ApiError:
        """This error with a cause appended, as Toxiproxy's ``joinError`` does."""
        return ApiError(f"{self.message}: {cause}", self.status)

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


BAD_REQUEST_BODY = ApiError("bad request body", HTTPStatus.BAD_REQUEST)
MISSING_FIELD = ApiError("missing required field", HTTPStatus.BAD_REQUEST)
PROXY_NOT_FOUND = ApiError("proxy not found", HTTPStatus.NOT_FOUND)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", HTTPStatus.CONFLICT)
INVALID_STREAM = ApiError(
    "stream was invalid, can be either upstream or downstream", HTTPStatus.BAD_REQUEST
)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", HTTPStatus.BAD_REQUEST)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", HTTPStatus.CONFLICT)
TOXIC_NOT_FOUND = ApiError("toxic not found", HTTPStatus.NOT_FOUND)
