"""One HTTP/1.1 exchange over a raw socket: for requests aiohttp's client refuses to send
(non-UTF-8 header bytes, dot segments, encoded slashes in the path)."""

from __future__ import annotations

import asyncio

import orjson
from yarl import URL


async def raw_request(
    base_url: str, method: str, path: str, headers: dict[str, bytes | str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send `method path` exactly as given; returns (status, lower-cased headers, body)."""
    url = URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {url.host}:{url.port}".encode()]
    for name, value in {"Connection": "close", "Content-Length": str(len(body)), **headers}.items():
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1"):  # interim responses (100 Continue)
        head, _, rest = rest.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        found[k.strip().lower()] = v.strip()
    if found.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return int(status_line.split()[1]), found, rest


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def json_body(model: str, text: str) -> bytes:
    """A chat request body."""
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": text}]})
