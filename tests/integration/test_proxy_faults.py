"""Bad input and upstream faults, against the scripted test upstream (a stand-in for vLLM):
each gets a clear OpenAI-style error and leaves a record and a metric behind."""

import asyncio

import aiohttp
import orjson
import pytest

from tests.conftest import free_port
from tests.http import get, post

pytestmark = pytest.mark.integration

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
ERRORS = "inferwatch_upstream_errors_total"


def error_of(body: bytes) -> dict:
    err = orjson.loads(body)["error"]
    assert {"message", "type", "code"} <= set(err)
    return err


def errors_counted(ra, error_type, op="chat", model="fake-model"):
    labels = {"gen_ai_request_model": model, "gen_ai_operation_name": op, "error_type": error_type}
    return ra.metric(ERRORS, labels)


@pytest.mark.parametrize(
    ("raw", "ctype", "status", "err_type"),
    [
        (b'{"model": "fake-model", "messages": [', "application/json", 400, "bad_request"),
        (b"[1, 2]", "application/json", 400, "bad_request"),
        (orjson.dumps(CHAT), "text/plain", 415, "unsupported_media_type"),
    ],
)
async def test_bad_input_rejected_and_not_forwarded(
    agent, fake_upstream, raw, ctype, status, err_type
):
    code, headers, body = await post(
        agent.url + "/v1/chat/completions", raw=raw, headers={"Content-Type": ctype}
    )
    assert code == status and error_of(body)["type"] == err_type
    assert headers["x-request-id"]
    assert fake_upstream.received == []
    [r] = await agent.records(1)
    assert (r.status, r.http_status, r.error_type) == ("error", status, err_type)
    assert errors_counted(agent, err_type, model="unknown") == 1


async def test_body_over_limit_is_413(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, limits={"max_body_bytes": 4096})
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 10_000}]}
    code, _, body = await post(ra.url + "/v1/chat/completions", big)
    assert code == 413 and error_of(body)["type"] == "body_too_large"

    async def chunked():  # no Content-Length: the limit must hold while reading too
        for _ in range(10):
            yield b"x" * 1000

    async with (
        aiohttp.ClientSession() as s,
        s.post(
            ra.url + "/v1/chat/completions",
            data=chunked(),
            headers={"Content-Type": "application/json"},
        ) as r,
    ):
        assert r.status == 413
    assert fake_upstream.received == []
    records = await ra.records(2)
    assert [r.http_status for r in records] == [413, 413]


async def test_upstream_down_is_502_at_once_and_health_says_which_side(start_agent):
    ra = await start_agent(
        f"http://127.0.0.1:{free_port()}", upstream={"timeouts": {"connect_s": 30}}
    )
    async with asyncio.timeout(
        10
    ):  # refused connections must not wait for the 30 s connect timeout
        code, _, body = await post(ra.url + "/v1/chat/completions", CHAT)
    assert code == 502 and error_of(body)["type"] == "upstream_unavailable"
    [r] = await ra.records(1)
    assert r.error_type == "upstream_unavailable" and r.http_status == 502
    assert errors_counted(ra, "upstream_unavailable") == 1
    code, _, body = await get(ra.url + "/health")
    health = orjson.loads(body)
    assert code == 503
    assert health["agent"]["status"] == "up" and health["upstream"]["status"] == "down"
    assert health["upstream"]["error"]
    code, _, _ = await get(ra.url + "/health/live")
    assert code == 200
    assert ra.metric("inferwatch_upstream_up") == 0


async def test_first_byte_timeout_is_504(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, upstream={"timeouts": {"first_byte_s": 0.3}})
    code, _, body = await post(ra.url + "/v1/chat/completions", CHAT, {"x-fake-delay-headers": "3"})
    assert code == 504 and error_of(body)["type"] == "upstream_timeout"
    [r] = await ra.records(1)
    assert r.error_type == "upstream_timeout" and errors_counted(ra, "upstream_timeout") == 1


async def test_stream_silent_before_first_chunk_is_504(fake_upstream, start_agent):
    ra = await start_agent(
        fake_upstream.url, upstream={"timeouts": {"first_byte_s": 0.3, "idle_s": 0.3}}
    )
    code, _, body = await post(
        ra.url + "/v1/chat/completions", {**CHAT, "stream": True}, {"x-fake-stall-after": "0"}
    )
    assert code == 504 and error_of(body)["type"] == "upstream_timeout"


async def test_stream_idle_mid_stream_ends_with_error_event(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, upstream={"timeouts": {"idle_s": 0.3}})
    code, _, body = await post(
        ra.url + "/v1/chat/completions", {**CHAT, "stream": True}, {"x-fake-stall-after": "2"}
    )
    assert code == 200  # headers were already sent; the stream ends with an error event
    events = [orjson.loads(e[6:]) for e in body.split(b"\n\n") if e.startswith(b"data: {")]
    assert len(events) == 3 and events[-1]["error"]["type"] == "upstream_timeout"
    [r] = await ra.records(1)
    assert (r.status, r.error_type) == ("error", "upstream_timeout")
    assert r.first_token_ns is not None
    async with asyncio.timeout(5):  # the stalled upstream request was hung up on, not left running
        while fake_upstream.cancelled == 0:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503])
async def test_upstream_errors_pass_through_unchanged(agent, status):
    code, _, body = await post(
        agent.url + "/v1/chat/completions", CHAT, {"x-fake-status": str(status)}
    )
    assert code == status
    assert orjson.loads(body) == {
        "error": {"message": f"scripted {status}", "type": "fake", "code": status}
    }
    [r] = await agent.records(1)
    assert (r.status, r.http_status, r.error_type) == ("error", status, str(status))
    # A model named only in requests the upstream refused as the client's error takes no
    # label slot (it could be any string): counted under `other`.
    model = "other" if status in (400, 404) else "fake-model"
    assert errors_counted(agent, str(status), model=model) == 1


async def test_client_disconnect_mid_stream_cancels_upstream(agent, fake_upstream):
    body = orjson.dumps({**CHAT, "stream": True})
    h = {"Content-Type": "application/json", "x-fake-tokens": "50", "x-fake-chunk-delay": "0.05"}
    async with aiohttp.ClientSession() as s:
        resp = await s.post(agent.url + "/v1/chat/completions", data=body, headers=h)
        await resp.content.readline()  # the first event arrived
        resp.close()  # hang up mid-stream
    [r] = await agent.records(1)
    assert (r.status, r.error_type) == ("cancelled", "cancelled")
    async with asyncio.timeout(5):
        while fake_upstream.cancelled == 0:
            await asyncio.sleep(0.05)
    assert errors_counted(agent, "cancelled") == 1


async def test_connect_timeout_is_504(start_agent):
    """An upstream whose accept queue is full never completes the TCP handshake."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the backlog so that further SYNs are dropped
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    try:
        ra = await start_agent(
            f"http://127.0.0.1:{port}", upstream={"timeouts": {"connect_s": 0.3}}
        )
        code, _, body = await post(ra.url + "/v1/chat/completions", CHAT)
        assert code == 504 and "connecting" in error_of(body)["message"]
        [r] = await ra.records(1)
        assert r.error_type == "upstream_timeout"
    finally:
        for c in [*fillers, listener]:
            c.close()
