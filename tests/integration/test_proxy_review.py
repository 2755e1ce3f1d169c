"""Findings of the attacker review of issue 15 that live in the proxy (the vLLM-like aiohttp
test upstream of tests/vllm_like.py and the scripted fake upstream, not vLLM): a stream
spelled `1`, invented model names, a stalled body upload, credentials toward the upstream."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import orjson
import pytest

from tests.raw_http import raw_request
from tests.vllm_like import SECRET

pytestmark = pytest.mark.integration

BLOCK_OUT = {"output_actions": {"secret": "block"}}


async def _chat(url: str, headers: dict | None = None, **extra) -> tuple[int, bytes]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        return r.status, await r.read()


@pytest.mark.parametrize("spelled", [1, "true", "yes", "On"])
async def test_a_stream_spelled_as_vllm_reads_it_is_filtered_and_metered(
    vllm_like, start_agent, spelled
):
    ra = await start_agent(vllm_like.url, safety=BLOCK_OUT)
    status, raw = await _chat(ra.url, stream=spelled)
    assert status == 200 and SECRET.encode() not in raw, raw[:300]
    assert vllm_like.bodies[0]["stream"] is True  # vLLM gets the canonical value
    assert vllm_like.bodies[0]["stream_options"] == {"include_usage": True}
    [r] = await ra.records(1)
    assert r.stream and r.completion_tokens and r.finish_reason == "content_filter"


async def test_a_stream_value_vllm_would_refuse_is_a_400(agent):
    status, raw = await _chat(agent.url, stream="maybe")
    assert status == 400 and b"stream must be a boolean" in raw
    status, raw = await _chat(agent.url, stream=None)  # null: vLLM's default, no stream
    assert status == 200 and orjson.loads(raw)["object"] == "chat.completion"


async def test_model_names_are_capped_and_only_served_models_take_label_slots(
    fake_upstream, start_agent
):
    ra = await start_agent(fake_upstream.url, metrics={"max_models": 2})
    status, raw = await _chat(ra.url, model="x" * 2_000_000)
    assert status == 400 and b"model must be at most 256" in raw
    assert fake_upstream.received == []
    for name in ("bogus-1", "bogus-2", "bogus-3"):  # the upstream refuses them: 404
        status, _ = await _chat(ra.url, headers={"x-fake-status": "404"}, model=name)
        assert status == 404
    status, _ = await _chat(ra.url, model="fake-model")
    assert status == 200
    await ra.records(5)
    count = "gen_ai_server_request_duration_seconds_count"
    base = {"gen_ai_operation_name": "chat"}
    assert ra.metric(count, {**base, "gen_ai_request_model": "fake-model", "status": "ok"}) == 1
    assert ra.metric(count, {**base, "gen_ai_request_model": "other", "status": "error"}) == 3
    assert ra.metric(count, {**base, "gen_ai_request_model": "bogus-1", "status": "error"}) is None


async def test_a_stalled_body_upload_is_a_408_and_gives_its_bytes_back(vllm_like, start_agent):
    mib = 1024 * 1024
    limits = {"max_body_bytes": mib, "max_inflight_bytes": 4 * mib, "body_timeout_s": 0.5}
    ra = await start_agent(vllm_like.url, limits=limits)
    port = int(ra.url.rsplit(":", 1)[1])
    stalled = []
    for _ in range(4):  # each reserves max_body_bytes: together the whole budget
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        stalled.append((reader, writer))
    answers = [await reader.read() for reader, _ in stalled]
    for _, writer in stalled:
        writer.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers
    assert ra.metric("inferwatch_request_body_bytes_in_flight") == 0
    status, _ = await _chat(ra.url)
    assert status == 200
    records = await ra.records(5)
    assert sorted(r.http_status for r in records) == [200, 408, 408, 408, 408]
    assert {r.error_type for r in records if r.http_status == 408} == {"request_timeout"}


async def test_upstream_url_credentials_replace_tenant_keys_toward_the_upstream(
    fake_upstream, start_agent
):
    up = fake_upstream.url.replace("http://", "http://svc:s3cretPW@")
    ra = await start_agent(up, tenants={"api_keys": {"acme": "acme-key-123456"}})
    status, raw = await _chat(
        ra.url, headers={"Authorization": "Bearer acme-key-123456"}, model="fake-model"
    )
    assert status == 200, raw
    seen = fake_upstream.headers_seen[0]["authorization"]
    assert seen == aiohttp.encode_basic_auth("svc", "s3cretPW")  # never the tenant's key
    [r] = await ra.records(1)
    assert r.tenant == "acme"


async def test_upstream_api_key_is_sent_and_tenant_keys_are_not(fake_upstream, start_agent):
    ra = await start_agent(
        fake_upstream.url,
        upstream={"api_key": "vllm-key-777"},
        tenants={"api_keys": {"acme": "acme-key-123456"}},
    )
    status, _ = await _chat(ra.url, headers={"Authorization": "Bearer acme-key-123456"})
    assert status == 200
    assert fake_upstream.headers_seen[0]["authorization"] == "Bearer vllm-key-777"


async def test_without_agent_credentials_the_clients_authorization_is_forwarded(
    fake_upstream, agent
):
    status, _ = await _chat(agent.url, headers={"Authorization": "Bearer for-vllm"})
    assert status == 200
    assert fake_upstream.headers_seen[0]["authorization"] == "Bearer for-vllm"


async def test_upstream_errors_do_not_tell_clients_internal_addresses(start_agent):
    ra = await start_agent("http://127.0.0.1:9")  # nothing listens on the discard port
    hdr = {"Content-Type": "application/json"}
    status, _, body = await raw_request(ra.url, "POST", "/v1/chat/completions", hdr, b"{}")
    assert status == 502
    assert b"127.0.0.1" not in body and b":9" not in body
    assert orjson.loads(body)["error"]["message"] == "upstream unavailable"
    [r] = await ra.records(1)
    # The record keeps the detail for operators (its addresses redacted as PII by default).
    assert r.error_message.startswith("upstream unavailable: Cannot connect to host")


async def test_a_chunked_body_holds_only_its_real_size_once_read(fake_upstream, start_agent):
    mib = 1024 * 1024
    ra = await start_agent(fake_upstream.url, limits={"max_body_bytes": mib})
    body = orjson.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hi"}],
                         "stream": True})  # fmt: skip
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    port = int(ra.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nx-fake-tokens: 40\r\nx-fake-chunk-delay: 0.05\r\n"
        b"Connection: close\r\n\r\n" + chunked
    )
    await writer.drain()
    await reader.readuntil(b"data: ")  # the answer is streaming: the handler still runs
    held = ra.metric("inferwatch_request_body_bytes_in_flight")
    await reader.read()
    writer.close()
    assert held == len(body)  # not max_body_bytes, reserved while the size was unknown
    assert ra.metric("inferwatch_request_body_bytes_in_flight") == 0


@pytest.mark.parametrize("declared", [True, False])
async def test_an_oversized_upstream_answer_is_a_502_not_a_full_memory(start_agent, declared):
    mib = 1024 * 1024

    async def answer(reader, writer):  # a hostile upstream: 3 MiB of JSON, sized or chunked
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)  # the whole request first, as a server does
        start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        body = b'{"x": "' + b"a" * 3 * mib + b'"}'
        if declared:
            writer.write(start + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        else:
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536])
                for i in range(0, len(body), 65536)
            )
            writer.write(start + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ra = await start_agent(f"http://127.0.0.1:{port}", upstream={"max_response_bytes": mib})
        status, raw = await _chat(ra.url)
        assert status == 502 and orjson.loads(raw)["error"]["message"] == (
            f"upstream answer over {mib} bytes"
        )
        [r] = await ra.records(1)
        assert (r.http_status, r.error_type) == (502, "upstream_protocol_error")
    finally:
        server.close()
