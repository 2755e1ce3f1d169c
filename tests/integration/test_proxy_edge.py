"""The edge as an attacker meets it (scripted aiohttp test upstream, requests over raw sockets):
no spelling of a path gets around the meters and filters, control routes are closed, bad
header bytes are a 400 that breaks nothing later, and every record says what the client got."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from tests.raw_http import json_body, raw_request

pytestmark = pytest.mark.integration

SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
VARIANTS = [
    "/v1/chat/completions/",
    "/v1/./chat/completions",
    "/v1/chat%2Fcompletions",
    "/v1/chat%2fcompletions",
    "/v1/chat%252Fcompletions",
    "//v1//chat/completions",
    "/x/../v1/chat/completions",
    "/v1%2Fchat%2Fcompletions",
]


@pytest.mark.parametrize("path", VARIANTS)
async def test_path_variants_are_measured_and_filtered_as_chat(fake_upstream, start_agent, path):
    ra = await start_agent(fake_upstream.url, safety={"actions": {"secret": "block"}})
    hdr = {"Content-Type": "application/json"}
    status, _, body = await raw_request(ra.url, "POST", path, hdr, json_body("m", "hi there"))
    assert status == 200, body
    assert fake_upstream.received[-1][0] == "/v1/chat/completions"
    status, _, body = await raw_request(ra.url, "POST", path, hdr, json_body("m", f"k {SECRET}"))
    assert status == 400 and b"policy" in body, body
    assert len(fake_upstream.received) == 1  # the secret never went upstream
    ok, blocked = sorted(await ra.records(2), key=lambda r: r.start_ns)
    assert (ok.operation, ok.path, ok.http_status) == ("chat", "/v1/chat/completions", 200)
    assert ok.prompt_tokens and ok.completion_tokens  # metered from the upstream's usage
    assert (blocked.operation, blocked.http_status) == ("chat", 400)
    assert any(v.action == "block" for v in blocked.safety)


@pytest.mark.parametrize(
    "path", ["/sleep", "/collective_rpc", "/v1/load_lora_adapter", "/v1/./sleep", "/v1/responses"]
)
async def test_control_and_unmeasured_routes_are_refused(fake_upstream, agent, path):
    status, headers, body = await raw_request(agent.url, "POST", path, {}, b"{}")
    assert status == 404
    err = orjson.loads(body)["error"]
    assert err["type"] == "route_refused"
    if path == "/v1/responses":
        assert "not supported by inferwatch yet" in err["message"]
    else:
        assert "routes.passthrough" in err["message"]
    assert fake_upstream.received == []
    [r] = await agent.records(1)
    assert (r.http_status, r.status, r.error_type) == (404, "error", "route_refused")
    assert r.request_id == headers["x-request-id"]


async def test_passthrough_allow_list_opens_a_route(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, routes={"passthrough": ["POST /sleep"]})
    status, _, body = await raw_request(ra.url, "POST", "/sleep", {}, b"")
    assert (status, orjson.loads(body)) == (200, {"done": True})
    assert fake_upstream.received == [("/sleep", None)]
    status, _, _ = await raw_request(ra.url, "GET", "/v1/models", {}, b"")
    assert status == 404  # the list replaces the default one


async def test_upstream_redirects_are_not_followed(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, routes={"passthrough": ["GET /redirect"]})
    status, headers, _ = await raw_request(ra.url, "GET", "/redirect", {}, b"")
    assert status == 307 and headers["location"].endswith("/sleep")
    assert fake_upstream.received == [("/redirect", None)]
    [r] = await ra.records(1)
    assert r.http_status == 307


async def test_hop_by_hop_and_connection_named_headers_are_not_forwarded(fake_upstream, agent):
    headers = {
        "Content-Type": "application/json",
        "Connection": "close, x-hop-one",
        "x-hop-one": "1",
        "Proxy-Connection": "x-hop-two",
        "x-hop-two": "2",
        "Expect": "100-continue",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "x-end-to-end": "kept",
    }
    status, _, _ = await raw_request(agent.url, "POST", "/v1/chat/completions", headers, b"{}")
    assert status == 200
    [seen] = fake_upstream.headers_seen
    for gone in ("x-hop-one", "x-hop-two", "expect", "keep-alive", "te", "proxy-connection"):
        assert gone not in seen, gone
    assert seen["x-end-to-end"] == "kept"


@pytest.mark.parametrize(
    "name,value",
    [
        ("x-tenant-id", b"t\xff"),
        ("x-tenant-id", b"a" * 65),
        ("x-request-id", b"has space"),
        ("x-anything", b"\xc3\x28"),
    ],
)
async def test_bad_header_bytes_are_a_400_and_break_nothing_later(agent, name, value):
    hdr = {"Content-Type": "application/json", name: value}
    status, _, body = await raw_request(agent.url, "POST", "/v1/chat/completions", hdr, b"{}")
    assert status == 400 and name in orjson.loads(body)["error"]["message"]
    status, _, _ = await raw_request(
        agent.url, "POST", "/v1/chat/completions", {"Content-Type": "application/json"}, b"{}"
    )
    assert status == 200
    bad, good = sorted(await agent.records(2), key=lambda r: r.start_ns)
    assert (bad.http_status, bad.tenant, good.http_status) == (400, "default", 200)
    async with aiohttp.ClientSession() as s, s.get(agent.url + "/metrics") as r:
        assert r.status == 200 and "gen_ai_server_request_duration_seconds" in await r.text()


async def test_require_key_answers_401_and_records_it(fake_upstream, start_agent):
    ra = await start_agent(
        fake_upstream.url, tenants={"api_keys": {"acme": "sk-acme-1"}, "require_key": True}
    )
    hdr = {"Content-Type": "application/json", "x-tenant-id": "acme"}
    status, headers, _ = await raw_request(ra.url, "POST", "/v1/chat/completions", hdr, b"{}")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    hdr["Authorization"] = "Bearer sk-acme-1"
    status, _, _ = await raw_request(ra.url, "POST", "/v1/chat/completions", hdr, b"{}")
    assert status == 200
    refused, ok = sorted(await ra.records(2), key=lambda r: r.start_ns)
    assert (refused.http_status, refused.tenant, ok.tenant) == (401, "default", "acme")
    assert fake_upstream.received and len(fake_upstream.received) == 1


async def test_oversized_passthrough_upload_is_413_in_the_record_too(fake_upstream, start_agent):
    ra = await start_agent(fake_upstream.url, limits={"max_body_bytes": 1024})
    chunk = b"x" * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    hdr = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    reader, writer = await asyncio.open_connection("127.0.0.1", int(ra.url.rsplit(":", 1)[1]))
    head = b"POST /tokenize HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in hdr.items())
    writer.write(head + b"\r\n" + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert fake_upstream.received == []
    [r] = await ra.records(1)
    assert (r.http_status, r.status, r.error_type) == (413, "error", "body_too_large")


async def test_upstream_with_too_many_headers_is_a_502_in_the_record_too(start_agent):
    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await reader.read(2)  # the body `{}`
        many = b"".join(b"x-h%d: v\r\n" % i for i in range(300))
        writer.write(b"HTTP/1.1 200 OK\r\n" + many + b"Content-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ra = await start_agent(f"http://127.0.0.1:{port}")
        hdr = {"Content-Type": "application/json"}
        status, _, body = await raw_request(ra.url, "POST", "/v1/chat/completions", hdr, b"{}")
        assert status == 502, body
        assert orjson.loads(body)["error"]["type"] == "upstream_protocol_error"
        [r] = await ra.records(1)
        assert (r.http_status, r.status) == (502, "error")
    finally:
        server.close()


async def test_a_body_sent_in_pieces_is_read_whole(fake_upstream, agent):
    body = json_body("m", "word " * 8000)  # ~40 KB
    port = int(agent.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body[:1000])
    await writer.drain()
    await asyncio.sleep(0.2)  # the agent has the first piece before the rest is sent
    writer.write(body[1000:])
    await writer.drain()
    data = await reader.read()
    writer.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:300]
    assert fake_upstream.received[0][1]["messages"][0]["content"] == "word " * 8000


async def test_unauthenticated_tenant_names_cannot_push_known_tenants_into_other(
    fake_upstream, start_agent
):
    ra = await start_agent(
        fake_upstream.url, metrics={"max_tenants": 2}, tenants={"known": ["acme"]}
    )
    hdr = {"Content-Type": "application/json"}
    for tenant in ["junk1", "junk2", "junk3", "acme"]:
        status, _, _ = await raw_request(
            ra.url, "POST", "/v1/chat/completions", {**hdr, "x-tenant-id": tenant}, b"{}"
        )
        assert status == 200
    await ra.records(4)
    count = "inferwatch_requests_total"
    base = {"gen_ai_request_model": "unknown", "status": "ok"}
    assert ra.metric(count, {**base, "tenant": "acme"}) == 1
    assert ra.metric(count, {**base, "tenant": "other"}) == 1  # junk3
    assert ra.metric(count, {**base, "tenant": "junk3"}) is None
