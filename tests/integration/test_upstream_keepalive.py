"""The agent never sends a request on a pooled connection the upstream is closing.

vLLM (uvicorn) closes a connection idle for 5 s; aiohttp's pool kept idle connections for
15 s, so a request sent just as vLLM closed one got a 502 (seen in bench/record_path_ab.py).
A stand-in upstream (asyncio streams, not vLLM) makes the race deterministic: it drops a
connection that comes back after `IDLE_S` without answering, as uvicorn does when its
close and the request cross. With `upstream.keepalive_s` under that, the agent opens a new
connection; over it (the old pool's behaviour), the request fails."""

import asyncio

import aiohttp
import pytest

pytestmark = pytest.mark.integration

IDLE_S = 0.6
BODY = b'{"id":"c","object":"chat.completion","model":"m","choices":[]}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


async def _read_request(reader: asyncio.StreamReader) -> bool:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return True


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    last = None
    while await _read_request(reader):
        if last is not None and loop.time() - last >= IDLE_S:
            break  # idle too long: closed as the request arrives, unanswered
        writer.write(ANSWER)
        await writer.drain()
        last = loop.time()
    writer.close()


@pytest.mark.parametrize(("keepalive_s", "second"), [(IDLE_S / 2, 200), (5.0, 502)])
async def test_an_idle_connection_is_dropped_before_the_upstream_drops_it(
    start_agent, keepalive_s, second
):
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ra = await start_agent(f"http://127.0.0.1:{port}", upstream={"keepalive_s": keepalive_s})
        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with aiohttp.ClientSession() as s:
            async with s.post(ra.url + "/v1/chat/completions", json=chat) as r:
                assert r.status == 200
            await asyncio.sleep(IDLE_S * 1.5)
            async with s.post(ra.url + "/v1/chat/completions", json=chat) as r:
                assert r.status == second
    finally:
        server.close()
