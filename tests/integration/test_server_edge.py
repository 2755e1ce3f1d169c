"""The agent's server edge against hostile and slow clients: slowloris connections, the
connection cap, idle keep-alive connections, request bytes in flight and header limits.
Raw sockets play the clients (aiohttp's client cannot send half a request); the agent is
in front of the scripted fake upstream."""

import asyncio

import orjson
import pytest

from tests.http import get, post
from tests.store_records import until

pytestmark = pytest.mark.integration

API = {"listener": "api"}
# A complete header that takes ~15 s to send at one byte per 50 ms.
SLOW_HEADER = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 270 + b"\r\n\r\n"


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """Everything until the agent closes the connection (a reset counts as closed)."""
    try:
        async with asyncio.timeout(60):
            return await reader.read(-1)
    except ConnectionResetError:
        return b"<reset>"


async def slow_client(url: str) -> tuple[bytes, int]:
    """Send SLOW_HEADER one byte at a time until the agent answers or hangs up; returns
    (what the agent sent, how many header bytes were sent)."""
    reader, writer = await asyncio.open_connection(*address(url))
    answer = asyncio.ensure_future(read_answer(reader))
    sent = 0
    for byte in SLOW_HEADER:
        if answer.done():
            break
        writer.write(bytes([byte]))
        sent += 1
        await asyncio.sleep(0.05)
    result = await answer
    writer.close()
    return result, sent


async def test_slowloris_connections_are_closed_while_a_normal_client_is_served(
    fake_upstream, start_agent
):
    ra = await start_agent(fake_upstream.url, limits={"header_timeout_s": 1.0})
    slow = [asyncio.ensure_future(slow_client(ra.url)) for _ in range(40)]
    await until(lambda: ra.metric("inferwatch_connections_open", API) == 40)
    status, _, body = await get(ra.url + "/v1/models")  # served meanwhile
    assert status == 200 and b"fake-model" in body
    results = await asyncio.gather(*slow)
    # every slow connection was answered 408 and closed before its header was complete
    assert all(sent < len(SLOW_HEADER) for _, sent in results), [s for _, s in results]
    assert all(a.startswith(b"HTTP/1.1 408") or a == b"<reset>" for a, _ in results)
    assert sum(a.startswith(b"HTTP/1.1 408") for a, _ in results) > 0
    labels = {**API, "reason": "header_timeout"}
    assert ra.metric("inferwatch_connections_rejected_total", labels) == 40
    await until(lambda: ra.metric("inferwatch_connections_open", API) == 0)


async def test_connections_past_the_cap_get_503_and_are_closed_then_service_resumes(
    fake_upstream, start_agent
):
    ra = await start_agent(fake_upstream.url, limits={"max_connections": 4})
    held = [await asyncio.open_connection(*address(ra.url)) for _ in range(4)]
    await until(lambda: ra.metric("inferwatch_connections_open", API) == 4)
    extra = [await asyncio.open_connection(*address(ra.url)) for _ in range(3)]
    answers = [await read_answer(reader) for reader, _ in extra]
    assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers), answers
    assert all(a.endswith(b"too many connections\n") for a in answers), answers
    labels = {**API, "reason": "max_connections"}
    assert ra.metric("inferwatch_connections_rejected_total", labels) == 3
    assert ra.metric("inferwatch_connections_open", API) == 4  # the refused never counted
    for _, writer in held + extra:
        writer.close()
    await until(lambda: ra.metric("inferwatch_connections_open", API) == 0)
    status, _, body = await get(ra.url + "/v1/models")
    assert status == 200 and b"fake-model" in body


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 response with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def test_idle_keepalive_connection_is_closed(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, limits={"keepalive_timeout_s": 0.5})
    reader, writer = await asyncio.open_connection(*address(ra.url))
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await read_response(reader)
    assert first.startswith(b"HTTP/1.1 200") and b"keep-alive" not in first.lower()
    assert await read_answer(reader) == b""  # then nothing: the agent closed the idle one
    writer.close()


async def test_kept_alive_connection_whose_next_header_stalls_is_closed(fake_upstream, start_agent):
    # The header timer covers a connection's first request; the keep-alive timer covers
    # the next ones (aiohttp closes a connection still waiting for a header when it fires).
    ra = await start_agent(fake_upstream.url, limits={"keepalive_timeout_s": 0.5})
    reader, writer = await asyncio.open_connection(*address(ra.url))
    writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(reader)).startswith(b"HTTP/1.1 200")
    writer.write(b"GET /health/live HTTP/1.1\r\nHo")  # and never the rest
    assert await read_answer(reader) == b""
    writer.close()


async def test_request_bytes_in_flight_are_capped(fake_upstream, start_agent):
    # /tokenize: a passthrough path, whose handler reads the whole body (request.read()).
    payload = {"prompt": "a " * 20_000}
    body = orjson.dumps(payload)
    ra = await start_agent(fake_upstream.url, limits={"max_inflight_bytes": len(body) * 3 // 2})
    reader, writer = await asyncio.open_connection(*address(ra.url))
    writer.write(
        b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:1000]
    )  # the rest of the body later: it holds its bytes meanwhile
    gauge = "inferwatch_request_body_bytes_in_flight"
    await until(lambda: ra.metric(gauge) == len(body))
    status, headers, answer = await post(ra.url + "/tokenize", payload)
    assert status == 503 and headers["Retry-After"] == "1", answer
    assert orjson.loads(answer)["error"]["type"] == "server_busy"
    labels = {**API, "reason": "inflight_bytes"}
    assert ra.metric("inferwatch_requests_rejected_total", labels) == 1
    writer.write(body[1000:])  # the first request completes and is served
    first = await read_answer(reader)
    assert first.startswith(b"HTTP/1.1 200") and b'"tokens"' in first, first[:300]
    writer.close()
    await until(lambda: ra.metric(gauge) == 0)
    status, _, answer = await post(ra.url + "/tokenize", payload)
    assert status == 200 and len(orjson.loads(answer)["tokens"]) == 20_000
    assert [path for path, _ in fake_upstream.received] == ["/tokenize", "/tokenize"]


@pytest.mark.parametrize(
    "head, says",
    [
        (b"".join(b"x-h%d: v\r\n" % i for i in range(30)), b"Too many headers"),
        (b"x-long: " + b"a" * 3000 + b"\r\n", b"Got more than 2048 bytes"),
    ],
    ids=["too-many-headers", "header-line-too-long"],
)
async def test_header_count_and_size_are_capped(fake_upstream, start_agent, head, says):
    ra = await start_agent(fake_upstream.url, limits={"max_headers": 20, "max_header_bytes": 2048})
    reader, writer = await asyncio.open_connection(*address(ra.url))
    writer.write(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
    answer = await read_answer(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.0 400 Bad Request") and says in answer, answer[:300]
    assert fake_upstream.received == []  # never forwarded
