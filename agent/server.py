"""Serving an aiohttp app behind connection guards: a connection cap and a header timeout.

aiohttp's server has an idle (keep-alive) timeout and header size limits, which are passed
to it here, but no limit on connections and no deadline for a request header: a client
sending one header byte a second (slowloris) holds a connection, a task and its buffers
for as long as the keep-alive timer allows, and enough of them exhaust file descriptors.

`_Guarded` sits between the event loop's transport and aiohttp's `RequestHandler`: it
admits a connection only under the cap (else a 503 and close) and arms a timer when the
connection opens, which aiohttp's request factory disarms once a complete request header
has been parsed; if it fires first, a 408 and close. Later requests on a kept-alive
connection are bounded by aiohttp's keep-alive timer, which closes a connection still
waiting for a complete header when it fires. Only public aiohttp interfaces are used: the
`Server` as protocol factory and its `request_factory` attribute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from aiohttp import web

from agent.server_config import ServerLimits

log = logging.getLogger("inferwatch.server")

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: 21\r\n\r\ntoo many connections\n"
)
_HEADER_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: 27\r\n\r\nrequest header not received\n"
)


class ConnectionGuard:
    """Connection accounting for one listener: how many are open, and the header timers."""

    def __init__(self, limits: ServerLimits, instruments: dict, listener: str) -> None:
        self.limits = limits
        self.open = 0
        self._timers: dict[object, asyncio.TimerHandle] = {}
        instruments["inferwatch_connections_open"].labels(listener).set_function(lambda: self.open)
        rejected = instruments["inferwatch_connections_rejected_total"]
        self._over_cap = rejected.labels(listener, "max_connections")
        self._timed_out = rejected.labels(listener, "header_timeout")

    def factory(self, server: web.Server) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to listen with, in place of `server` itself."""
        make_request = server.request_factory

        def request_started(message, payload, protocol, writer, task):
            timer = self._timers.pop(protocol, None)
            if timer is not None:
                timer.cancel()
            return make_request(message, payload, protocol, writer, task)

        server.request_factory = request_started
        return lambda: _Guarded(server(), self)

    def admit(self, handler, transport: asyncio.Transport) -> bool:
        """Count a new connection in, or refuse it (503) when the listener is full."""
        if self.open >= self.limits.max_connections:
            self._over_cap.inc()
            transport.write(_REFUSED)
            transport.close()
            return False
        self.open += 1
        loop = asyncio.get_running_loop()
        self._timers[handler] = loop.call_later(
            self.limits.header_timeout_s, self._header_timeout, handler, transport
        )
        return True

    def release(self, handler) -> None:
        """A counted connection has closed."""
        self.open -= 1
        timer = self._timers.pop(handler, None)
        if timer is not None:
            timer.cancel()

    def _header_timeout(self, handler, transport: asyncio.Transport) -> None:
        if self._timers.pop(handler, None) is None or transport.is_closing():
            return
        self._timed_out.inc()
        transport.write(_HEADER_TIMEOUT)
        transport.close()


class _Guarded(asyncio.Protocol):
    """Passes a connection's events on to aiohttp's handler once the guard admits it."""

    def __init__(self, inner: web.RequestHandler, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._admitted = False
        # Bound straight to the handler's methods: no extra call per chunk read or written.
        self.data_received = inner.data_received  # type: ignore[method-assign]
        self.eof_received = inner.eof_received  # type: ignore[method-assign]
        self.pause_writing = inner.pause_writing  # type: ignore[method-assign]
        self.resume_writing = inner.resume_writing  # type: ignore[method-assign]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server's transports are full (read/write) transports.
        if not self._guard.admit(self._inner, cast(asyncio.Transport, transport)):
            self._inner.force_close()  # it never started: drop anything read meanwhile
            return
        self._admitted = True
        self._inner.connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._admitted:
            self._guard.release(self._inner)
            self._inner.connection_lost(exc)


class GuardedSite(web.TCPSite):
    """A TCP site whose connections pass through a `ConnectionGuard`."""

    __slots__ = ("_guard",)

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard):
        super().__init__(runner, host, port, backlog=1024)
        self._guard = guard

    async def start(self) -> None:
        """TCPSite.start, listening with the guard's protocol factory."""
        await web.BaseSite.start(self)  # registers the site with its runner
        loop = asyncio.get_running_loop()
        server = self._runner.server
        if server is None:
            raise RuntimeError("GuardedSite.start needs a runner that is set up")
        factory = self._guard.factory(server)
        self._server = await loop.create_server(
            factory, self._host, self._port, backlog=self._backlog
        )
        self._bound_port = self._server.sockets[0].getsockname()[1]


async def start_listener(
    app: web.Application,
    host: str,
    port: int,
    limits: ServerLimits,
    instruments: dict,
    listener: str,
) -> web.AppRunner:
    """Serve `app` on host:port with the limits applied; returns its (started) runner."""
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=limits.keepalive_timeout_s,
        max_headers=limits.max_headers,
        max_field_size=limits.max_header_bytes,
        max_line_size=limits.max_header_bytes,
    )
    await runner.setup()
    guard = ConnectionGuard(limits, instruments, listener)
    await GuardedSite(runner, host, port, guard).start()
    return runner
