"""The lean upstream client (agent/httpclient.py) against real servers on 127.0.0.1: an
aiohttp server for well-behaved HTTP, and raw asyncio servers scripted to misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import gzip

import aiohttp
import pytest
from aiohttp import web

from agent.httpclient import UpstreamClient, UpstreamProtocolError

pytestmark = pytest.mark.integration


async def aiohttp_server(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def raw_server(on_request) -> tuple[asyncio.Server, str]:
    """A server calling `on_request(n, reader, writer)` for each request head it reads (n
    counts requests on that connection); it decides what to answer."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                n += 1
                if not await on_request(n, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@contextlib.asynccontextmanager
async def raw_client(on_request, limit: int = 8):
    """A lean client in front of a `raw_server(on_request)`; both closed afterwards."""
    server, url = await raw_server(on_request)
    client = UpstreamClient(url, limit, 2.0)
    try:
        yield client
    finally:
        await client.close()
        server.close()


def replying(data: bytes, keep: bool = False, linger: float = 0.0):
    """An `on_request` that writes `data` to every request, waits `linger` seconds, then
    keeps the connection open (`keep`) or closes it."""

    async def on_request(n, reader, writer) -> bool:
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(linger)
        return keep

    return on_request


def answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_requests_reuse_one_kept_alive_connection_and_keep_body_and_headers():
    peers = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.read()
        return web.json_response({"got": body.decode(), "path": request.path_qs,
                                  "trace": request.headers.get("traceparent")})  # fmt: skip

    runner, url = await aiohttp_server(handler)
    client = UpstreamClient(url + "/prefix", 8, 2.0)
    try:
        for i in range(3):
            resp = await client.request("POST", "/v1/x", {"traceparent": f"t{i}"}, b"abc%d" % i)
            assert resp.status == 200 and resp.content_type == "application/json"
            assert await resp.read() == (
                b'{"got": "abc%d", "path": "/prefix/v1/x", "trace": "t%d"}' % (i, i)
            )
            resp.release()
        assert len(set(peers)) == 1  # one connection served all three
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_chunked_stream_arrives_piece_by_piece():
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(b"data: 1\n\n")
        await release.wait()
        await out.write(b"data: 2\n\n")
        await out.write_eof()
        return out

    runner, url = await aiohttp_server(handler)
    client = UpstreamClient(url, 8, 2.0)
    try:
        resp = await client.request("POST", "/s", {}, b"{}")
        assert resp.content_type == "text/event-stream"
        assert await resp.content.readany() == b"data: 1\n\n"  # before the stream ends
        release.set()
        rest = b""
        while chunk := await resp.content.readany():
            rest += chunk
        assert rest == b"data: 2\n\n" and resp.content.at_eof()
        resp.release()
    finally:
        await client.close()
        await runner.cleanup()


async def test_a_kept_alive_connection_the_upstream_dropped_is_retried_once_on_a_new_one():
    connections = 0

    async def on_request(n, reader, writer) -> bool:
        nonlocal connections
        if n == 1:
            connections += 1
            writer.write(answer(b"first"))
            await writer.drain()
            return True
        return False  # the second request on a connection: closed without an answer

    async with raw_client(on_request) as client:
        for _ in range(2):
            resp = await client.request("POST", "/", {}, b"x")
            assert await resp.read() == b"first"
            resp.release()
        assert connections == 2


async def test_a_fresh_connection_closed_without_an_answer_is_an_error():
    async def on_request(n, reader, writer) -> bool:
        return False

    async with raw_client(on_request) as client:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.request("POST", "/", {}, b"x")


async def test_a_body_cut_short_raises_a_payload_error():
    async with raw_client(
        replying(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
    ) as client:
        resp = await client.request("POST", "/", {}, b"x")
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
        resp.close()


async def test_garbage_instead_of_http_is_a_protocol_error():
    async with raw_client(replying(b"SSH-2.0-OpenSSH\r\n\r\n", linger=0.5)) as client:
        with pytest.raises(UpstreamProtocolError):
            await client.request("POST", "/", {}, b"x")


async def test_nothing_listening_is_a_connection_error():
    server, url = await raw_server(None)
    server.close()
    await server.wait_closed()
    client = UpstreamClient(url, 8, 2.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.request("POST", "/", {}, b"x")


async def test_a_big_body_read_slowly_pauses_the_upstream_and_arrives_whole():
    big = bytes(range(256)) * 40_000  # 10 MB

    async with raw_client(replying(answer(big), keep=True)) as client:
        resp = await client.request("POST", "/", {}, b"x")
        got, most = [], 0
        while chunk := await resp.content.readany():
            got.append(chunk)
            most = max(most, len(chunk))
            await asyncio.sleep(0.001)  # a slow client downstream
        assert b"".join(got) == big
        assert most < 4 << 20  # held back near the pause mark, not the whole body
        resp.release()


async def test_a_big_body_read_whole_arrives_and_the_connection_is_reused():
    big = b"x" * (5 << 20)
    connections = 0

    async def on_request(n, reader, writer) -> bool:
        nonlocal connections
        connections += n == 1
        writer.write(answer(big))
        await writer.drain()
        return True

    async with raw_client(on_request) as client:
        for _ in range(2):
            resp = await client.request("POST", "/", {}, b"x")
            assert await asyncio.wait_for(resp.read(), 10) == big
            resp.release()
        assert connections == 1


async def test_a_gzipped_answer_is_decoded():
    async with raw_client(
        replying(answer(gzip.compress(b'{"ok": true}'), b"Content-Encoding: gzip\r\n"), keep=True)
    ) as client:
        resp = await client.request("POST", "/", {}, b"x")
        assert await resp.read() == b'{"ok": true}'
        resp.release()


async def test_closing_a_response_wakes_its_reader_with_an_error():
    async with raw_client(
        replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", linger=5)
    ) as client:
        resp = await client.request("POST", "/", {}, b"x")
        reader = asyncio.create_task(resp.content.readany())
        await asyncio.sleep(0.05)
        resp.close()  # what the proxy's idle watch does
        with pytest.raises(aiohttp.ClientConnectionError):
            await asyncio.wait_for(reader, 2)


async def test_the_connection_limit_queues_requests_beyond_it():
    inside, most = 0, 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(0.05)
        inside -= 1
        return web.Response(text="ok")

    runner, url = await aiohttp_server(handler)
    client = UpstreamClient(url, 2, 2.0)

    async def one() -> bytes:
        resp = await client.request("POST", "/", {}, b"")
        try:
            return await resp.read()
        finally:
            resp.release()

    try:
        assert await asyncio.gather(*(one() for _ in range(6))) == [b"ok"] * 6
        assert most == 2
    finally:
        await client.close()
        await runner.cleanup()
