"""HTTP/1.1 over a bare socket, for requests that client libraries refuse or rewrite.

aiohttp's and requests' clients validate header values, normalise paths and handle
`Expect: 100-continue` themselves; these helpers send exactly the bytes given, so tests can
send non-UTF-8 header bytes, dot segments, `%2F` and a real `Expect` handshake. Every
request asks for `Connection: close` and the response is read to EOF.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A parsed response: the final status, its headers (names lower-cased), the body."""

    status: int
    headers: dict[str, str]
    body: bytes
    informational: tuple[int, ...] = ()  # 1xx statuses that came before the final one

    def header(self, name: str) -> str | None:
        """One header's value, or None."""
        return self.headers.get(name.lower())


def request_bytes(
    method: str, target: bytes, host: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[bytes, bytes]:
    """(head, body) of one request; `Host`, `Content-Length` and `Connection` are added."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + host.encode()]
    lines += [k + b": " + v for k, v in headers]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n", body


def parse_response(data: bytes) -> RawResponse:
    """Parse everything a server sent on a closed connection (1xx responses first)."""
    informational = []
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError(f"no complete response head in {data[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        if 100 <= status < 200:
            informational.append(status)
            data = rest
            continue
        break
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    elif "content-length" in headers:
        rest = rest[: int(headers["content-length"])]
    return RawResponse(status, headers, rest, tuple(informational))


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


def send(
    url: str,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    timeout_s: float = 30.0,
) -> RawResponse:
    """Send one request on a fresh connection (blocking) and parse the answer."""
    u = urlsplit(url)
    head, payload = request_bytes(method, target, u.netloc, list(headers), body)
    with socket.create_connection((u.hostname, u.port), timeout=timeout_s) as s:
        s.sendall(head + payload)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return parse_response(b"".join(chunks))


async def send_expect_100(
    url: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> RawResponse:
    """POST with `Expect: 100-continue` as curl does: the head, then the body only once the
    server said `100 Continue` (a final answer instead is returned as it is)."""
    u = urlsplit(url)
    all_headers = [*headers, (b"Expect", b"100-continue")]
    head, payload = request_bytes("POST", target, u.netloc, all_headers, body)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    try:
        writer.write(head)
        await writer.drain()
        first = await reader.readuntil(b"\r\n\r\n")
        if not first.startswith(b"HTTP/1.1 100"):
            return parse_response(first + await reader.read())
        writer.write(payload)
        await writer.drain()
        return parse_response(first + await reader.read())
    finally:
        writer.close()
