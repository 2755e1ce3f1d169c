"""OpenAI-style JSON error responses, so clients' SDKs surface them properly."""

from __future__ import annotations

import orjson
from aiohttp import web

# error_type values used in records and in `inferwatch_upstream_errors_total`.
BAD_REQUEST = "bad_request"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
BODY_TOO_LARGE = "body_too_large"
UPSTREAM_UNAVAILABLE = "upstream_unavailable"
UPSTREAM_TIMEOUT = "upstream_timeout"
UPSTREAM_PROTOCOL = "upstream_protocol_error"
CANCELLED = "cancelled"
UPSTREAM_STARTING = "upstream_starting"


class Refusal(Exception):
    """A request the agent answers itself with an error (nothing, or nothing more, was
    forwarded): raised anywhere on the request path, turned into the response and the
    record's error by the proxy."""

    def __init__(
        self,
        status: int,
        err_type: str,
        message: str,
        body: bytes | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.err_type, self.message = status, err_type, message
        self.body = body  # a ready error body (a safety block names its policy), else built
        # For the record and the log only: upstream errors name internal hosts and ports,
        # which the client is not told.
        self.detail = detail


def error_body(status: int, message: str, err_type: str, param: str | None = None) -> bytes:
    """The OpenAI error envelope: {"error": {"message", "type", "param", "code"}}."""
    return orjson.dumps(
        {"error": {"message": message, "type": err_type, "param": param, "code": status}}
    )


def error_response(
    status: int, message: str, err_type: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A complete JSON error response."""
    return web.Response(
        status=status,
        body=error_body(status, message, err_type),
        content_type="application/json",
        headers=headers,
    )
