"""The SSE watcher: events forwarded whole and in order, usage/first-token/finish seen."""

import orjson
import pytest

from agent.sse import SSEWatcher

pytestmark = pytest.mark.unit


def ev(obj) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


ROLE = {
    "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    "usage": None,
}
TOK = {
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
    "usage": None,
}
LAST = {
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}],
    "usage": None,
}
USAGE = {"model": "m", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}
STREAM = ev(ROLE) + ev(TOK) + ev(LAST) + ev(USAGE) + b"data: [DONE]\n\n"


def run(chunks, drop_usage):
    hits = []
    w = SSEWatcher(drop_usage, lambda: hits.append(len(hits)))
    out = b"".join(w.feed(c) for c in chunks) + w.tail()
    return w, out, hits


@pytest.mark.parametrize("size", [1, 3, 17, 64, 10_000])
def test_any_chunking_gives_same_output(size):
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    w, out, hits = run(chunks, drop_usage=False)
    assert out == STREAM
    assert w.usage == {"prompt_tokens": 7, "completion_tokens": 2}
    assert w.finish_reason == "stop" and w.response_model == "m"
    assert hits == [0]  # first token fired once, not on the empty role chunk


@pytest.mark.parametrize("size", [1, 5, 64, 10_000])
def test_usage_event_dropped_when_client_did_not_ask(size):
    long = ev(ROLE) + ev(TOK) * 40 + ev(LAST) + ev(USAGE) + b"data: [DONE]\n\n"
    w, out, _ = run([long[i : i + size] for i in range(0, len(long), size)], drop_usage=True)
    assert out == ev(ROLE) + ev(TOK) * 40 + ev(LAST) + b"data: [DONE]\n\n"
    assert w.usage["completion_tokens"] == 2 and w.finish_reason == "stop"
    w, out, _ = run([STREAM], drop_usage=True)
    assert b'"completion_tokens"' not in out
    assert out == ev(ROLE) + ev(TOK) + ev(LAST) + b"data: [DONE]\n\n"
    assert w.usage["completion_tokens"] == 2


def test_role_chunk_alone_is_not_a_token():
    w, _, hits = run([ev(ROLE)], drop_usage=False)
    assert hits == [] and not w.seen_token


def test_completion_text_counts_as_token_and_crlf_is_accepted():
    obj = {"model": "m", "choices": [{"index": 0, "text": "x", "finish_reason": None}]}
    w, out, hits = run([b"data: " + orjson.dumps(obj) + b"\r\n\r\n"], drop_usage=False)
    assert hits == [0] and out.endswith(b"\n\n")


def test_error_event_is_noticed():
    w, out, _ = run([ev({"error": {"message": "boom", "code": 500}})], drop_usage=False)
    assert w.error["message"] == "boom" and b"boom" in out


def test_partial_event_is_held_until_complete():
    w = SSEWatcher(False, lambda: None)
    assert w.feed(b'data: {"choi') == b""
    assert w.feed(b'ces": []}\n\n') == b'data: {"choices": []}\n\n'


@pytest.mark.parametrize("size", [1, 7, 10_000])
def test_done_is_seen_only_as_an_event(size):
    w, _, _ = run([STREAM[i : i + size] for i in range(0, len(STREAM), size)], drop_usage=False)
    assert w.done
    fake = ev({"choices": [{"index": 0, "delta": {"content": "data: [DONE]"}}]})
    w, _, _ = run([fake], drop_usage=False)
    assert not w.done  # a completion that says it is not the end of the stream
