"""The safety stage: verdicts merged into records, off-path checks, capture redacted."""

import asyncio

import orjson
import pytest

from agent.record import OP_CHAT
from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine
from agent.safety.stage import SafetyStage
from tests.records import make_record

pytestmark = pytest.mark.unit


def finish(stage, record, out):
    """Hand `record` to the stage, whose output goes to `out`."""
    stage.connect(out.append)
    stage.process(record)


KEY = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"


def record(**kw):
    return make_record("r1", **kw)


def make(config):
    return SafetyStage(SafetyEngine(config)), None


def hits(r, f, d, a):
    """How many hits of filter `f` the record's verdicts say (the metrics stage counts
    exactly these: test_record_path.py)."""
    return sum(v.count for v in r.safety if (v.filter, v.direction, v.action) == (f, d, a))


def response(text):
    return orjson.dumps({"choices": [{"index": 0, "message": {"content": text}}]})


async def test_flag_only_runs_off_path_and_lands_on_the_record():
    stage, _ = make(SafetyConfig())
    await stage.start()
    state = stage.request(OP_CHAT, "r1")
    assert state.check_request({"messages": [{"role": "user", "content": f"use {KEY}"}]}) is None
    state.check_response(response("mail me at a@b.co"))  # keeps what it returns
    out = []
    finish(stage, record(), out)
    assert out == []  # not on the request path
    await stage.stop()
    (r,) = out
    assert {(v.filter, v.direction, v.action) for v in r.safety} == {
        ("secret.openai_key", "input", "flag"),
        ("pii.email", "output", "flag"),
    }
    assert hits(r, "secret.openai_key", "input", "flag") == 1
    assert r.prompt_text is None and r.completion_text is None  # capture is off


async def test_capture_keeps_only_redacted_text_and_error_messages_are_masked():
    stage, _ = make(SafetyConfig(capture_text=True))
    state = stage.request(OP_CHAT, "r1")
    state.check_request({"messages": [{"role": "user", "content": f"use {KEY}"}]})
    state.keep_output(
        b'data: {"choices":[{"index":0,"delta":{"content":"call 415-555-2671"}}]}\n\ndata: [DONE]\n\n'
    )
    out = []
    finish(stage, record(error_message=f"upstream echoed {KEY}"), out)  # no worker: inline
    (r,) = out
    assert r.prompt_text == "use [REDACTED:secret.openai_key]"
    assert r.completion_text == "call [REDACTED:pii.phone]"
    assert KEY not in r.error_message


async def test_inline_verdicts_need_no_off_path_work():
    # Text descriptors are off-path work of their own (their tests: test_alerts_drift_data_*)
    config = SafetyConfig(actions={"secret": "block", "pii": "redact"}, text_descriptors=False)
    stage, _ = make(config)
    state = stage.request(OP_CHAT, "r1")
    block = state.check_request({"messages": [{"role": "user", "content": f"{KEY} a@b.co"}]})
    assert block.filter == "secret.openai_key"
    sent = state.check_response(response("ok"))
    assert (
        not state.needs_offpath and orjson.loads(sent)["choices"][0]["message"]["content"] == "ok"
    )
    out = []
    finish(stage, record(), out)
    assert {v.action for v in out[0].safety} == {"block", "redact"}
    assert hits(out[0], "pii.email", "input", "redact") == 1


async def test_a_full_queue_checks_inline_instead_of_dropping():
    stage = SafetyStage(SafetyEngine(SafetyConfig()), queue_size=1)
    await stage.start()
    out = []
    for _ in range(3):
        s = stage.request(OP_CHAT, "r1")
        s.check_request({"messages": [{"role": "user", "content": KEY}]})
        finish(stage, record(), out)
    assert len(out) == 2  # two checked at once, one queued
    await stage.stop()
    assert len(out) == 3 and all(r.safety for r in out)


def test_nothing_on_and_no_capture_means_no_per_request_state():
    stage, _ = make(SafetyConfig(enabled=False))
    assert stage.request(OP_CHAT, "r1") is None
    asyncio.get_event_loop_policy()  # the stage needs no loop when it has nothing to do


async def test_a_failing_check_sends_the_record_on_without_any_text_but_with_its_verdicts(
    monkeypatch,
):
    stage, _ = make(SafetyConfig(actions={"secret": "redact"}))
    state = stage.request(OP_CHAT, "r1")
    state.check_request({"messages": [{"role": "user", "content": f"use {KEY}"}]})

    def broken(record, state):
        raise RuntimeError("a bug in the scanner")

    monkeypatch.setattr(stage, "_scan", broken)
    out = []
    finish(stage, record(error_message=f"upstream echoed {KEY}"), out)
    (r,) = out
    assert r.error_message is None and r.prompt_text is None  # nothing unredacted goes on
    assert [(v.filter, v.action) for v in r.safety] == [("secret.openai_key", "redact")]


def _events(tokens):
    """One chat chunk event per token, as vLLM sends them (LF line ends)."""
    return [
        b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}) + b"\n\n"
        for t in tokens
    ]


async def test_a_long_kept_stream_is_held_as_its_text_and_reads_back_the_same():
    # Each event is ~60 bytes for a token of 2-6 characters: a long stream held raw cost ~100
    # KB a minute per open stream. The kept text must be exactly what the raw events say,
    # escapes and a token cut between two network chunks included.
    tokens = [f"tok{i} " for i in range(500)] + ['quote " and \\ and é', " mail a@b.co"]
    raw = b"".join(_events(tokens)) + b"data: [DONE]\n\n"
    stage, _ = make(SafetyConfig(capture_text=True))
    state = stage.request(OP_CHAT, "r1")
    for i in range(0, len(raw), 37):  # network chunks that split events anywhere
        state.keep_output(raw[i : i + 37])
    held = sum(len(c) for c in state.output)
    assert held < 37 * 40  # at most a compaction's worth of raw chunks, not the whole stream
    assert state.output_text() == "".join(tokens)
    out = []
    finish(stage, record(), out)
    assert out[0].completion_text.endswith(" mail [REDACTED:pii.email]")
    assert hits(out[0], "pii.email", "output", "flag") == 1


async def test_a_json_body_kept_in_many_pieces_is_not_compacted_as_a_stream():
    body = response("x" * 4000 + " a@b.co")
    stage, _ = make(SafetyConfig(capture_text=True))
    state = stage.request(OP_CHAT, "r1")
    for i in range(0, len(body), 50):
        state.keep_output(body[i : i + 50])
    assert b"".join(state.output) == body
    assert state.output_text() == "x" * 4000 + " a@b.co"


async def test_a_crlf_stream_is_compacted_too_and_reads_back_the_same():
    tokens = [f"t{i} " for i in range(200)]
    raw = b"".join(e.replace(b"\n\n", b"\r\n\r\n") for e in _events(tokens))
    stage, _ = make(SafetyConfig(capture_text=True))
    state = stage.request(OP_CHAT, "r1")
    for i in range(0, len(raw), 29):
        state.keep_output(raw[i : i + 29])
    assert sum(len(c) for c in state.output) < 29 * 40
    assert state.output_text() == "".join(tokens)


async def test_an_endless_event_is_joined_a_logarithmic_number_of_times(monkeypatch):
    # A hostile upstream's one event that never ends: each compaction joins everything kept,
    # so they must come after twice as many pieces each time, not every 32.
    from agent.safety import request

    joins = []
    real = request.RequestSafety._compact
    monkeypatch.setattr(
        request.RequestSafety, "_compact", lambda self: (joins.append(1), real(self))
    )
    stage, _ = make(SafetyConfig(capture_text=True))
    state = stage.request(OP_CHAT, "r1")
    state.keep_output(b'data: {"choices":[{"delta":{"content":"')
    for _ in range(20_000):
        state.keep_output(b"x" * 10)
    assert len(joins) <= 12  # 32, 64, ... 2**14 pieces: about log2(20,000 / 32) + 1
    assert state.output_text() == ""  # an unterminated value is no text
