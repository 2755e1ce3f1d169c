"""Requests through the agent to a real vLLM, with the official `openai` client: what the
agent records agrees with vLLM's own counters."""

from __future__ import annotations

import time

import openai
import pytest

from collectors.vllm import VLLMCollector

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.timeout(900)]


def _counters(vllm_url: str) -> dict[str, float]:
    """vLLM's own totals, through our collector (also exercising it on a live server)."""
    out: dict[str, float] = {}
    for fam in VLLMCollector(vllm_url, timeout_s=10).collect().families:
        for s in fam.samples:
            if s.name.endswith(("_total", "_sum", "_count")):
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def _client(stack, tenant: str = "t1") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=stack.url + "/v1",
        api_key="x",
        max_retries=0,
        timeout=120,
        default_headers={"x-tenant-id": tenant},
    )


def _one_request(client: openai.OpenAI, model: str, kind: str) -> None:
    chat = [{"role": "user", "content": "hello world, how is the cache today?"}]
    if kind == "chat":
        client.chat.completions.create(model=model, messages=chat, max_tokens=12)
    elif kind == "chat-stream":
        for _ in client.chat.completions.create(
            model=model, messages=chat, max_tokens=12, stream=True
        ):
            pass
    elif kind == "completion":
        client.completions.create(model=model, prompt="the model server token", max_tokens=9)
    else:
        for _ in client.completions.create(
            model=model, prompt="latency cost", max_tokens=7, stream=True
        ):
            pass


KINDS = ("chat", "chat-stream", "completion", "completion-stream")


@pytest.fixture(scope="module")
def batch(stack):
    """Each kind of request sent one at a time, with vLLM's counters read around each."""
    client = _client(stack)
    rows = []
    for kind in KINDS * 2:
        before = _counters(stack.vllm_url)
        n, t0 = len(stack.sink.records), time.time()
        _one_request(client, stack.model, kind)
        record = _first_since(stack, n, t0)
        rows.append((kind, record, before, _counters(stack.vllm_url)))
    return rows


def _first_since(stack, n: int, t0: float):
    """The first record of a request that started at `t0` or later. Not simply the next
    one: the cost stage holds records a few seconds, so the last requests of the module
    before this one (the vLLM server is shared by the session) can land after `n`."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        late = [r for r in stack.wait_records(n + 1, timeout_s=1)[n:] if r.wall_time >= t0]
        if late:
            return late[0]
    raise AssertionError("no record of the request arrived")


def _delta(before: dict, after: dict, name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def test_token_counts_equal_vllm_counters(batch):
    for kind, rec, before, after in batch:
        assert rec.status == "ok", (kind, rec.error_message)
        assert rec.prompt_tokens == _delta(before, after, "inferwatch_vllm_prompt_tokens_total"), (
            kind
        )
        assert rec.completion_tokens == _delta(
            before, after, "inferwatch_vllm_generation_tokens_total"
        ), kind
        assert rec.completion_tokens > 0


def test_agent_ttft_not_less_than_vllm_ttft(batch):
    for kind, rec, before, after in batch:
        vllm_ttft = _delta(before, after, "inferwatch_vllm_time_to_first_token_seconds_sum")
        assert _delta(before, after, "inferwatch_vllm_time_to_first_token_seconds_count") == 1
        assert rec.ttft_s is not None and vllm_ttft > 0, kind
        assert rec.ttft_s >= vllm_ttft, (kind, rec.ttft_s, vllm_ttft)


def test_streaming_and_non_streaming_both_recorded(batch, stack):
    seen = {(rec.operation, rec.stream) for _, rec, _, _ in batch}
    assert seen == {
        ("chat", False),
        ("chat", True),
        ("text_completion", False),
        ("text_completion", True),
    }
    assert all(rec.model == stack.model and rec.tenant == "t1" for _, rec, _, _ in batch)


def test_agent_metrics_expose_vllm_restart_counter(stack):
    import urllib.request

    text = urllib.request.urlopen(stack.url + "/metrics", timeout=10).read().decode()
    assert "inferwatch_vllm_restarts_total" in text
    assert "gen_ai_server_time_to_first_token_seconds_bucket" in text
