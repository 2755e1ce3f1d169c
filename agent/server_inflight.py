"""A cap on the request body bytes that requests being served hold, all together.

`limits.max_body_bytes` bounds one body; with thousands of connections that still allows
gigabytes. This middleware reserves each request's body size before its handler runs
(the declared Content-Length; a chunked body, whose size is unknown until read, reserves
`max_body_bytes`, the most a handler will read) and returns it when the handler ends.
A request that would pass `limits.max_inflight_bytes` gets 503 with Retry-After before
any of its body is read. One request alone is always admitted, so a cap below
`max_body_bytes` cannot lock a large request out forever. Once the handler has read the
body, `settle_inflight` brings the reservation down to the body's real size: a chunked
request would otherwise hold `max_body_bytes` for the whole of its (streamed) answer.
"""

from __future__ import annotations

from aiohttp import web

from agent.errors import error_response

_SETTLE = web.RequestKey("inferwatch.inflight_settle", object)


def settle_inflight(request: web.BaseRequest, actual: int) -> None:
    """The body is read and is `actual` bytes: reserve no more than that (no-op without
    the middleware)."""
    settle = request.get(_SETTLE)
    if settle is not None:
        settle(actual)


class InflightBytes:
    """The middleware and its running total, for one listener."""

    def __init__(self, cap: int, max_body: int, instruments: dict, listener: str) -> None:
        self.cap = cap
        self.max_body = max_body
        self.held = 0
        instruments["inferwatch_request_body_bytes_in_flight"].set_function(lambda: self.held)
        rejected = instruments["inferwatch_requests_rejected_total"]
        self._refused = rejected.labels(listener, "inflight_bytes")

    def size(self, request: web.BaseRequest) -> int:
        """The bytes a request's body will hold at most."""
        if not request.body_exists:
            return 0
        declared = request.content_length
        return self.max_body if declared is None else min(declared, self.max_body)

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        """Reserve the body's bytes for as long as the handler runs, or refuse (503)."""
        size = self.size(request)
        if self.held and self.held + size > self.cap:
            self._refused.inc()
            busy = error_response(
                503,
                "too many request bytes in flight; retry shortly",
                "server_busy",
                headers={"Retry-After": "1"},
            )
            busy.force_close()  # its body was never read: do not keep the connection
            return busy
        self.held += size
        reserved = size

        def settle(actual: int) -> None:
            nonlocal reserved
            if actual < reserved:
                self.held -= reserved - actual
                reserved = actual

        request[_SETTLE] = settle
        try:
            return await handler(request)
        finally:
            self.held -= reserved
