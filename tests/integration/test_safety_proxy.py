"""Safety filters in the proxy, in front of the scripted test upstream (a stand-in for vLLM):
input blocks, redaction of a stream split across chunks, output blocks, off-path flags."""

import asyncio
import sqlite3

import orjson
import pytest
from aiohttp import web

from agent.tracing import SpanSink
from tests.fake_upstream import FakeUpstream
from tests.http import post
from tests.integration.test_otel_export import attrs, otlp_receiver  # noqa: F401, F811 (a fixture)

pytestmark = pytest.mark.integration

KEY = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"


class ScriptedTextUpstream(FakeUpstream):
    """The fake upstream, answering with the text in `x-test-text` (split into stream
    chunks at each `|`) instead of its `tokN` words."""

    async def generate(self, request: web.Request) -> web.StreamResponse:
        script = request.headers.get("x-test-text")
        if script is None:
            return await super().generate(request)
        body = await request.json()
        self.received.append((request.path, body))
        pieces = script.split("|")
        if not body.get("stream"):
            msg = {"role": "assistant", "content": "".join(pieces)}
            return web.json_response(
                {
                    "id": "c",
                    "model": "m",
                    "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            choice = {
                "index": 0,
                "delta": {"content": piece},
                "finish_reason": "stop" if last else None,
            }
            await resp.write(
                b"data: " + orjson.dumps({"id": "c", "model": "m", "choices": [choice]}) + b"\n\n"
            )
        await resp.write(b"data: [DONE]\n\n")
        return resp


@pytest.fixture(autouse=True)
def _scripted_text_upstream(monkeypatch):
    """The `fake_upstream` fixture serves the scripted-text variant in this module."""
    monkeypatch.setattr("tests.conftest.FakeUpstream", ScriptedTextUpstream)


def chat(text, stream=False):
    return {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}


def hits(agent, f, d, a):
    labels = {"filter": f, "direction": d, "action": a}
    return agent.metric("inferwatch_safety_filter_hits_total", labels) or 0


def stream_text(body: bytes) -> tuple[str, list[str]]:
    text, reasons = [], []
    for event in body.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for c in orjson.loads(event[6:])["choices"]:
                text.append(c.get("delta", {}).get("content") or "")
                if c.get("finish_reason"):
                    reasons.append(c["finish_reason"])
    return "".join(text), reasons


async def test_input_block_answers_400_with_policy_code_and_forwards_nothing(
    fake_upstream, start_agent
):
    agent = await start_agent(fake_upstream.url, safety={"actions": {"secret": "block"}})
    status, headers, body = await post(agent.url + "/v1/chat/completions", chat(f"my key {KEY}"))
    err = orjson.loads(body)["error"]
    assert status == 400 and err["code"] == "content_policy_violation" and headers["x-request-id"]
    assert err["policy"] == "secret.openai_key" and KEY not in body.decode()
    assert fake_upstream.received == []
    [r] = await agent.records(1)
    assert r.http_status == 400 and r.error_type == "content_policy_violation"
    assert [(v.filter, v.direction, v.action) for v in r.safety] == [
        ("secret.openai_key", "input", "block")
    ]
    assert hits(agent, "secret.openai_key", "input", "block") == 1


async def test_input_redaction_reaches_upstream_redacted(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url, safety={"actions": {"pii": "redact"}})
    status, _, _ = await post(agent.url + "/v1/chat/completions", chat("mail ana@example.org"))
    assert status == 200
    assert fake_upstream.received[0][1]["messages"][0]["content"] == "mail [REDACTED:pii.email]"


async def test_rendered_fields_beyond_content_reach_upstream_redacted(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url, safety={"actions": {"secret": "redact"}})
    body = chat("what is the weather?")
    body["tools"] = [
        {
            "type": "function",
            "function": {"name": "weather", "description": f"Uses {KEY}.", "parameters": {}},
        }
    ]
    body["chat_template_kwargs"] = {"notes": [f"key {KEY}"]}
    body["messages"][0]["name"] = KEY
    status, _, _ = await post(agent.url + "/v1/chat/completions", body)
    assert status == 200
    sent = fake_upstream.received[0][1]
    assert KEY not in orjson.dumps(sent).decode()
    mask = "[REDACTED:secret.openai_key]"
    assert sent["tools"][0]["function"]["description"] == f"Uses {mask}."
    assert sent["chat_template_kwargs"] == {"notes": [f"key {mask}"]}
    assert sent["messages"][0]["name"] == mask
    [r] = await agent.records(1)
    assert [(v.filter, v.action, v.count) for v in r.safety] == [("secret.openai_key", "redact", 3)]


async def test_stream_redacts_a_key_split_across_chunks(fake_upstream, start_agent):
    agent = await start_agent(
        fake_upstream.url, safety={"actions": {"secret": "redact"}, "window_chars": 64}
    )
    script = f"Your key is {KEY[:6]}|{KEY[6:20]}|{KEY[20:]}| - keep it safe." + "|ok" * 30
    status, _, body = await post(
        agent.url + "/v1/chat/completions", chat("key?", stream=True), {"x-test-text": script}
    )
    text, reasons = stream_text(body)
    assert status == 200 and KEY[:10] not in body.decode()
    assert text == script.replace("|", "").replace(KEY, "[REDACTED:secret.openai_key]")
    assert reasons == ["stop"] and body.endswith(b"data: [DONE]\n\n")
    [r] = await agent.records(1)
    assert ("secret.openai_key", "output", "redact") in [
        (v.filter, v.direction, v.action) for v in r.safety
    ]


async def test_output_block_ends_the_stream_with_content_filter(fake_upstream, start_agent):
    agent = await start_agent(
        fake_upstream.url, safety={"output_actions": {"secret": "block"}, "window_chars": 64}
    )
    script = "Sure, here: |" + KEY[:12] + "|" + KEY[12:] + "| and more" + "|x" * 40
    status, _, body = await post(
        agent.url + "/v1/chat/completions", chat("key?", stream=True), {"x-test-text": script}
    )
    text, reasons = stream_text(body)
    assert status == 200 and reasons == ["content_filter"] and body.endswith(b"data: [DONE]\n\n")
    assert "sk-" not in text and text.startswith("Sure, here:")
    [r] = await agent.records(1)
    assert r.finish_reason == "content_filter"
    assert ("secret.openai_key", "output", "block") in [
        (v.filter, v.direction, v.action) for v in r.safety
    ]


async def test_non_streamed_output_redaction(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url, safety={"output_actions": {"pii": "redact"}})
    _, _, body = await post(
        agent.url + "/v1/chat/completions", chat("hi"), {"x-test-text": "call 415-555-2671"}
    )
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "call [REDACTED:pii.phone]"


async def test_flag_only_runs_off_path_and_lands_on_the_record(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url)  # defaults: every filter flags, nothing inline
    status, _, body = await post(
        agent.url + "/v1/chat/completions",
        chat(f"use {KEY}", stream=True),
        {"x-test-text": "mail|to a@b.co| now"},
    )
    assert status == 200 and stream_text(body)[0] == "mailto a@b.co now"  # untouched
    assert fake_upstream.received[0][1]["messages"][0]["content"] == f"use {KEY}"
    [r] = await agent.records(1)
    assert {(v.filter, v.direction, v.action) for v in r.safety} == {
        ("secret.openai_key", "input", "flag"),
        ("pii.email", "output", "flag"),
    }
    assert r.prompt_text is None and r.completion_text is None
    assert hits(agent, "pii.email", "output", "flag") == 1


async def test_capture_stores_only_redacted_text(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url, safety={"capture_text": True})
    await post(agent.url + "/v1/chat/completions", chat(f"use {KEY}"), {"x-test-text": "ok a@b.co"})
    [r] = await agent.records(1)
    assert r.prompt_text == "use [REDACTED:secret.openai_key]"
    assert r.completion_text == "ok [REDACTED:pii.email]"


async def test_span_carries_guardrail_results(fake_upstream, start_agent, otlp_receiver):  # noqa: F811
    endpoint, spans = otlp_receiver
    agent = await start_agent(fake_upstream.url, otel={"endpoint": endpoint})
    await post(agent.url + "/v1/chat/completions", chat("mail ana@example.org"))
    await agent.records(1)
    [sink] = [s for s in agent.agent.pipeline.sinks if isinstance(s, SpanSink)]
    await sink.flush()
    async with asyncio.timeout(10):
        while not spans:
            await asyncio.sleep(0.05)
    [(_, span)] = spans
    a = attrs(span)
    assert a["gen_ai.guardrail.result.type"] == "flagged"
    [policy] = [
        x.value.array_value for x in span.attributes if x.key == "gen_ai.guardrail.policy.id"
    ]
    assert [v.string_value for v in policy.values] == ["pii.email"]
    [event] = [e for e in span.events if e.name == "gen_ai.guardrail.result"]
    assert attrs(event)["gen_ai.guardrail.policy.id"] == "pii.email"


async def test_nothing_secret_reaches_the_store_even_with_capture_on(fake_upstream, start_agent):
    agent = await start_agent(fake_upstream.url, safety={"capture_text": True})
    await post(
        agent.url + "/v1/chat/completions",
        chat(f"use {KEY}", stream=True),
        {"x-test-text": "mail |ana@exa|mple.org now"},
    )
    await agent.records(1)
    await agent.agent.pipeline.drain()
    [store] = [s for s in agent.agent.pipeline.sinks if s.name == "store"]
    await store.flush()
    db = sqlite3.connect(agent.agent.settings.store.path)
    [(stored,)] = db.execute("SELECT record FROM requests").fetchall()
    db.close()
    assert KEY not in stored and "ana@example.org" not in stored
    assert "[REDACTED:secret.openai_key]" in stored and "[REDACTED:pii.email]" in stored
