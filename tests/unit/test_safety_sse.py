"""The SSE rewriter on OpenAI-style chat and completion streams."""

import orjson
import pytest

from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine
from agent.safety.sse import SSEFilter
from agent.safety.text import output_text

pytestmark = pytest.mark.unit
KEY = "AKIAIOSFODNN7EXAMPLE"


def event(content=None, finish=None, text_mode=False):
    choice = {"index": 0, "finish_reason": finish}
    if text_mode:
        choice["text"] = content or ""
    else:
        choice["delta"] = {} if content is None else {"content": content}
    return b"data: " + orjson.dumps({"id": "x", "model": "m", "choices": [choice]}) + b"\n\n"


def stream(pieces, text_mode=False):
    return [event(p, text_mode=text_mode) for p in pieces] + [
        event(None if not text_mode else "", "stop", text_mode),
        b"data: [DONE]\n\n",
    ]


def run(engine, events):
    f = SSEFilter(engine)
    out = []
    for ev in events:
        piece, stop = f.process(ev)
        out.append(piece)
        if stop:
            break
    return b"".join(out), f


@pytest.mark.parametrize("text_mode", [False, True])
def test_a_key_split_across_events_is_redacted(text_mode):
    e = SafetyEngine(SafetyConfig(actions={"secret": "redact"}, window_chars=32))
    pieces = ["The key ", "is AKIA", "IOSFOD", "NN7EXAMPLE", " ok.", " Bye " * 20]
    raw, f = run(e, stream(pieces, text_mode))
    text = output_text(raw)
    assert KEY not in text and text == "".join(pieces).replace(KEY, "[REDACTED:secret.aws_key]")
    assert raw.endswith(b"data: [DONE]\n\n") and f.counts[("secret.aws_key", "redact")] == 1


def test_tail_is_flushed_before_done_when_no_finish_reason_came():
    e = SafetyEngine(SafetyConfig(actions={"secret": "redact"}, window_chars=32))
    raw, _ = run(e, [event("short answer"), b"data: [DONE]\n\n"])
    assert output_text(raw) == "short answer" and raw.endswith(b"data: [DONE]\n\n")


def test_block_ends_the_stream_with_content_filter_and_done():
    e = SafetyEngine(SafetyConfig(actions={"secret": "block"}, window_chars=32))
    raw, f = run(e, stream(["Here: AKIA", "IOSFODNN7EXAMPLE", " and more"]))
    events = [x for x in raw.split(b"\n\n") if x]
    assert events[-1] == b"data: [DONE]"
    last = orjson.loads(events[-2][6:])
    assert last["choices"][0]["finish_reason"] == "content_filter"
    assert "AKIA" not in output_text(raw) and f.blocked_by == "secret.aws_key"


def test_events_without_text_pass_through_unchanged():
    e = SafetyEngine(SafetyConfig(actions={"secret": "redact"}))
    usage = b'data: {"id":"x","choices":[],"usage":{"prompt_tokens":3}}\n\n'
    raw, _ = run(e, [b": keep-alive\n\n", usage])
    assert raw == b": keep-alive\n\n" + usage


def test_guard_flushes_held_text_when_the_upstream_ends_without_done():
    from agent.record import OP_CHAT
    from agent.safety.request import RequestSafety
    from agent.safety.sse import SSEGuard

    e = SafetyEngine(SafetyConfig(actions={"secret": "redact"}, window_chars=32))
    state = RequestSafety(e, OP_CHAT)
    guard = SSEGuard(state)
    sent = guard.pass_on(event("held back text of the answer")) + guard.finish(b"")
    assert output_text(sent) == "held back text of the answer" and not guard.stopped


def test_guard_without_state_passes_bytes_through():
    from agent.safety.sse import SSEGuard

    guard = SSEGuard(None)
    assert guard.pass_on(b"data: x\n\n") == b"data: x\n\n" and guard.finish(b"tail") == b"tail"


@pytest.mark.parametrize("finish", [True, False])
def test_a_block_found_only_in_the_held_tail_still_ends_with_content_filter(finish):
    e = SafetyEngine(SafetyConfig(actions={"secret": "block"}, window_chars=256))
    events = (
        stream(["short: ", KEY]) if finish else [event("short: "), event(KEY), b"data: [DONE]\n\n"]
    )
    raw, f = run(e, events)
    reasons = [
        c["finish_reason"]
        for x in raw.split(b"\n\n")
        if x.startswith(b"data: {")
        for c in orjson.loads(x[6:])["choices"]
        if c["finish_reason"]
    ]
    assert reasons == ["content_filter"] and KEY not in raw.decode() and f.blocked


def test_output_kept_for_the_offpath_scan_is_bounded():
    from agent.record import OP_CHAT
    from agent.safety.request import MAX_KEPT_BYTES, RequestSafety

    state = RequestSafety(SafetyEngine(SafetyConfig()), OP_CHAT)  # flag-only: kept for off-path
    chunk = event("x" * 1000)
    for _ in range(MAX_KEPT_BYTES // len(chunk) + 10):
        state.keep_output(chunk)
    assert state.output_truncated
    assert 0 < sum(map(len, state.output)) <= MAX_KEPT_BYTES


def test_stream_text_survives_a_broken_event_between_good_ones():
    good = b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n'
    raw = good % b"one " + b"data: {broken\n\n" + good % b"two" + b"data: [DONE]\n\n"
    assert output_text(raw) == "one two"
    assert output_text(raw.replace(b"data: {broken\n\n", b"")) == "one two"


@pytest.mark.parametrize("seed", range(4))
def test_stream_text_matches_parsing_every_event(seed):
    # The oracle parses each event's JSON; output_text finds the values with one regex.
    import random

    rng = random.Random(seed)
    alphabet = ["a", " ", '"', "\\", "\n", "é", "日本", '"content":"', '"text":"', "\t", 'x\\"y']
    for _ in range(300):
        text_mode = rng.random() < 0.3
        pieces = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
            for _ in range(rng.randint(1, 8))
        ]
        events = stream(pieces, text_mode)
        if rng.random() < 0.3:  # JSON written with spaces after the colons
            events = [e.replace(b'":', b'": ') for e in events]
        expected = []
        for ev in events[:-1]:  # the last one is [DONE]
            choice = orjson.loads(ev[len(b"data: ") :])["choices"][0]
            expected.append(choice["text"] if text_mode else choice["delta"].get("content", ""))
        assert output_text(b"".join(events)) == "".join(expected)
