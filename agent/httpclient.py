"""A lean HTTP/1.1 client for the proxy's hot path: keep-alive connections to one upstream,
responses parsed by httptools (the C parser of uvicorn and uvloop's authors).

Why not aiohttp's client, which the agent uses everywhere else: measured against the
benchmark's instant upstream, one aiohttp request costs 170-200 us of CPU (URL and header
objects, cookie handling, tracing hooks, its stream reader) where this one costs ~50 us, and
that difference is most of what the agent added over a bare pass-through proxy
(`bench/proxy_overhead.py`). It does only what the proxy needs: send one request with a
body, hand back status and headers, then the body as it arrives, and reuse the connection.

`UpstreamResponse` offers the subset of `aiohttp.ClientResponse` the proxy uses (`status`,
`headers`, `content_type`, `read()`, `content.readany()`, `content.at_eof()`, `release()`,
`close()`) and failures are raised as aiohttp's exception types, so the proxy handles
both clients alike.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from urllib.parse import urlsplit

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy

# Set by the client itself, whatever the caller passed.
_OWN_HEADERS = frozenset(("host", "content-length", "transfer-encoding", "connection"))
_PAUSE_AT = 1 << 20  # buffered body bytes at which reading from the upstream pauses


class UpstreamProtocolError(aiohttp.ServerConnectionError):
    """The upstream's response could not be parsed as HTTP/1.1."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; carries one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.used = False  # has served a request (a reused connection may have gone stale)
        self._resp: UpstreamResponse | None = None
        self._parser = None

    # ---- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        resp = self._resp
        if resp is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            resp._fail(UpstreamProtocolError("upstream switched protocols"))
            self.close()
        except httptools.HttpParserError as err:
            resp._fail(UpstreamProtocolError(f"malformed response from upstream: {err}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        resp = self._resp
        if resp is not None and not resp._complete:
            if resp._headers_done:
                resp._fail(aiohttp.ClientPayloadError("upstream closed the response early"))
            else:
                resp._fail(aiohttp.ServerDisconnectedError("upstream closed the connection"))

    # ---- use ---------------------------------------------------------------------------

    def send(self, resp: UpstreamResponse, data: bytes) -> None:
        self._resp = resp
        self._parser = httptools.HttpResponseParser(resp)
        self.used = True
        self.transport.write(data)

    def detach(self) -> None:
        self._resp = None
        self._parser = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamResponse:
    """Status and headers of one upstream response, then its body as it arrives.

    Also the httptools callback object of its connection's parser."""

    def __init__(self, client: UpstreamClient, conn: _Connection) -> None:
        self._client, self._conn = client, conn
        self.status = 0
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers: CIMultiDictProxy[str] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._whole = False  # read() wants the whole body: no pausing
        self._headers_done = False
        self._complete = False
        self._keep_alive = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._inflate = None
        self._done = False  # released or closed

    # ---- the parser's callbacks ----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self._conn._parser.get_status_code()
        self._headers_done = True
        for name, value in self._raw_headers:
            if name.lower() == b"content-encoding" and value.lower() in (b"gzip", b"deflate"):
                # Asked for identity; decoded here if the upstream compresses anyway, as
                # aiohttp does (the proxy drops Content-Encoding and Content-Length).
                self._inflate = zlib.decompressobj(wbits=47)  # gzip or zlib, auto-detected
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._inflate is not None:
            body = self._inflate.decompress(body)
            if not body:
                return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered >= _PAUSE_AT and not self._paused and not self._whole:
            self._paused = True  # the client downstream is slower than the upstream
            self._conn.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        # Asked now: once the message is over, the parser forgets (it answers False).
        self._keep_alive = self._conn._parser.should_keep_alive()
        self._complete = True
        self._wake()

    def _fail(self, err: BaseException) -> None:
        if self._error is None:
            self._error = err
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    # ---- what the proxy uses (aiohttp.ClientResponse's names) -----------------------------

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            self._headers = CIMultiDictProxy(
                CIMultiDict(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw_headers
                )
            )
        return self._headers

    @property
    def content_type(self) -> str:
        for name, value in self._raw_headers:
            if name.lower() == b"content-type":
                return value.split(b";", 1)[0].strip().lower().decode("latin-1")
        return "application/octet-stream"  # as aiohttp says when there is none

    @property
    def content(self) -> UpstreamResponse:
        """The body stream (this object: `readany()`, `at_eof()`), as aiohttp names it."""
        return self

    async def readany(self) -> bytes:
        """What has arrived of the body since the last call (waits for some); b"" at its end."""
        while not self._chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            await self._wait()
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        self._resume()
        return data

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            if not self._conn.closed:
                self._conn.transport.resume_reading()

    async def read(self) -> bytes:
        """The whole body."""
        self._whole = True  # it is all kept anyway: never pause reading for it
        self._resume()
        while not self._complete:
            if self._error is not None:
                raise self._error
            await self._wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data

    def at_eof(self) -> bool:
        return self._complete and not self._chunks

    def release(self) -> None:
        """Done with the response: its connection goes back to the pool if it can be reused."""
        if self._done:
            return
        self._done = True
        reuse = self._complete and self._keep_alive and not self._conn.closed
        if reuse:
            self._resume()
        self._client._give_back(self._conn, reuse=reuse)

    def close(self) -> None:
        """Done before the end: the connection is closed (the upstream sees the hang-up)."""
        if self._done:
            return
        self._done = True
        if not self._complete:  # a reader still waiting learns it at once
            self._fail(aiohttp.ClientConnectionError("response closed before its end"))
        self._client._give_back(self._conn, reuse=False)


class UpstreamClient:
    """Keep-alive connections to one upstream base URL (http or https), at most `limit`."""

    def __init__(self, base_url: str, limit: int, connect_timeout_s: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"upstream URL must be http(s): {base_url}")
        self._host = parts.hostname or "localhost"
        default = 443 if parts.scheme == "https" else 80
        self._port = parts.port or default
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        name = f"[{self._host}]" if ":" in self._host else self._host  # an IPv6 literal
        host_header = name if parts.port in (None, default) else f"{name}:{parts.port}"
        self._host_line = f"Host: {host_header}\r\n"
        self._prefix = parts.path.rstrip("/")
        self._connect_timeout = connect_timeout_s
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._all: set[_Connection] = set()

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> UpstreamResponse:
        """Send a request; returns once the response's status and headers are in."""
        head = [f"{method} {self._prefix}{path} HTTP/1.1\r\n", self._host_line]
        for k, v in headers.items():
            if k.lower() not in _OWN_HEADERS:
                head.append(f"{k}: {v}\r\n")
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        data = "".join(head).encode("latin-1") + body
        await self._slots.acquire()
        try:
            return await self._exchange(data)
        except BaseException:
            self._slots.release()
            raise

    async def _exchange(self, data: bytes) -> UpstreamResponse:
        retried = False
        while True:
            conn = await self._connection()
            reused = conn.used
            resp = UpstreamResponse(self, conn)
            conn.send(resp, data)
            try:
                while not resp._headers_done:
                    if resp._error is not None:
                        raise resp._error
                    await resp._wait()
                return resp
            except aiohttp.ServerDisconnectedError:
                self._drop(conn)
                # A kept-alive connection the upstream had just closed, before a byte of
                # the response: the request is sent again, once, on another connection.
                if reused and not retried and not resp._raw_headers:
                    retried = True
                    continue
                raise
            except BaseException:
                self._drop(conn)  # cancelled or failed half-way: never reused
                raise

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._all.discard(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):  # once per new connection
                _, conn = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl
                )
        except TimeoutError:
            raise aiohttp.ConnectionTimeoutError(
                f"timed out connecting to {self._host}:{self._port}"
            ) from None
        except OSError as err:
            raise aiohttp.ClientConnectionError(
                f"cannot connect to {self._host}:{self._port}: {err.strerror or err}"
            ) from err
        self._all.add(conn)
        return conn

    def _give_back(self, conn: _Connection, reuse: bool) -> None:
        conn.detach()
        if reuse and not conn.closed:
            self._idle.append(conn)
        else:
            self._drop(conn)
        self._slots.release()

    def _drop(self, conn: _Connection) -> None:
        conn.detach()
        conn.close()
        self._all.discard(conn)

    async def close(self) -> None:
        """Close every connection."""
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
