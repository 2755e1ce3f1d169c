"""The official `openai` Python client works through the agent, streaming and not
(against the scripted test upstream; the real-vLLM tier repeats this against vLLM)."""

import openai
import pytest

pytestmark = pytest.mark.integration


def client(ra, **kw):
    return openai.AsyncOpenAI(base_url=ra.url + "/v1", api_key="sk-test", max_retries=0, **kw)


async def test_chat_non_streaming(agent):
    resp = await client(agent).chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hello there"}],
        extra_headers={"x-fake-tokens": "4"},
    )
    assert resp.choices[0].message.content == " tok0 tok1 tok2 tok3"
    assert resp.usage.completion_tokens == 4
    [r] = await agent.records(1)
    assert r.completion_tokens == 4 and r.prompt_tokens == resp.usage.prompt_tokens


async def test_chat_streaming_without_and_with_usage(agent):
    c = client(agent)
    stream = await c.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"x-fake-tokens": "3"},
    )
    chunks = [ch async for ch in stream]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == " tok0 tok1 tok2"
    assert all(ch.choices for ch in chunks)  # no usage-only chunk the client did not ask for
    stream = await c.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-tokens": "3"},
    )
    chunks = [ch async for ch in stream]
    assert chunks[-1].usage.completion_tokens == 3
    a, b = await agent.records(2)
    assert a.stream and b.stream and a.completion_tokens == b.completion_tokens == 3
    assert a.ttft_s is not None and a.ttft_s <= a.duration_s


async def test_completions_and_embeddings_and_models(agent):
    c = client(agent)
    comp = await c.completions.create(model="fake-model", prompt="a b", max_tokens=5)
    assert comp.choices[0].text.startswith(" tok0")
    emb = await c.embeddings.create(model="fake-model", input="a b c")
    assert len(emb.data[0].embedding) == 3
    models = await c.models.list()
    assert [m.id for m in models.data] == ["fake-model"]


async def test_errors_surface_as_sdk_exceptions(agent):
    with pytest.raises(openai.InternalServerError):
        await client(agent).chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-status": "500"},
        )
    with pytest.raises(openai.RateLimitError):
        await client(agent).chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-status": "429"},
        )
