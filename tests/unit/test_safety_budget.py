"""The per-request scan budget, and big scans kept off the event loop (on the scan thread)."""

import asyncio
import threading

import orjson
import pytest
from pydantic import ValidationError

from agent.record import OP_CHAT
from agent.safety.budget import PER_STRING_BYTES, Budget
from agent.safety.config import SafetyConfig
from agent.safety.engine import CUT_MARK, INPUT, SafetyEngine
from agent.safety.request import OFFLOAD_BYTES
from agent.safety.stage import SafetyStage
from tests.records import make_record

pytestmark = pytest.mark.unit


def finish(stage, record, out):
    """Hand `record` to the stage, whose output goes to `out`."""
    stage.connect(out.append)
    stage.process(record)


BUDGET = 64 * 1024
CARDS = "4111 1111 1111 1111\n" * (4 * BUDGET // 20)  # 256 KiB, a valid test card a line
KEY = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"


def chat(text):
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


def spy_engine(config, seen, hold=None):
    """A real engine whose `scan` notes the length of every text it is given, and (with
    `hold`) waits for that event when scanning a big text off the main thread."""
    engine = SafetyEngine(config)
    real = engine.scan

    def scan(text, direction=INPUT):
        seen.append(len(text))
        off_loop = threading.current_thread() is not threading.main_thread()
        if hold is not None and off_loop and len(text) > OFFLOAD_BYTES:
            assert hold.wait(10)
        return real(text, direction)

    engine.scan = scan
    return engine


def stage_of(engine):
    return SafetyStage(engine), None


def verdicts(r):
    return {(v.filter, v.direction, v.action) for v in r}


def test_take_cuts_at_the_budget_in_utf8_bytes_and_on_a_character_boundary():
    b = Budget(10, per_string=0)
    assert b.take("abcd") == "abcd" and not b.truncated
    assert b.take("ééé") == "ééé" and b.left == 0  # 6 bytes
    assert b.take("x") == "" and b.truncated and b.scanned == 10
    b = Budget(5, per_string=0)
    assert b.take("ééé") == "éé" and b.truncated and b.scanned == 5


def test_each_string_costs_at_least_per_string_bytes():
    b = Budget(100, per_string=40)
    assert [b.take("x") for _ in range(4)] == ["x", "x", "x", ""]
    assert b.truncated and b.scanned == 3


def test_a_body_of_many_tiny_strings_is_scanned_only_within_the_budget():
    seen: list[int] = []
    engine = spy_engine(SafetyConfig(actions={"pii": "redact"}, max_scan_bytes=BUDGET), seen)
    body = chat("hi")
    body["chat_template_kwargs"] = {"notes": ["a"] * 100_000}
    d = engine.inspect_request(body, OP_CHAT)
    assert len(seen) <= BUDGET // PER_STRING_BYTES
    assert ("scan.truncated", "flag") in {(v.filter, v.action) for v in d.verdicts}


def test_an_inline_scan_over_budget_reads_at_most_the_budget_and_says_truncated():
    seen: list[int] = []
    engine = spy_engine(SafetyConfig(actions={"pii": "redact"}, max_scan_bytes=BUDGET), seen)
    body = chat(CARDS)
    d = engine.inspect_request(body, OP_CHAT)
    assert sum(seen) <= BUDGET
    assert ("scan.truncated", "flag") in {(v.filter, v.action) for v in d.verdicts}
    text = body["messages"][0]["content"]
    assert text.startswith("[REDACTED:pii.card]\n") and text.endswith(CARDS[-40:])


def test_a_truncated_scan_blocks_when_its_action_is_block():
    config = SafetyConfig(actions={"scan.truncated": "block"}, max_scan_bytes=BUDGET)
    engine = SafetyEngine(config)
    assert engine.inline(INPUT)  # a block must be decided on the request path
    d = engine.inspect_request(chat("x" * (BUDGET + 1)), OP_CHAT)
    assert d.block is not None and d.block.filter == "scan.truncated"
    assert SafetyEngine(config).inspect_request(chat("x" * BUDGET), OP_CHAT).block is None


def test_unscanned_text_cannot_be_redacted():
    with pytest.raises(ValidationError, match="scan.truncated can be flag, block or off"):
        SafetyConfig(actions={"scan.truncated": "redact"})
    engine = SafetyEngine(SafetyConfig(default_action="redact", max_scan_bytes=BUDGET))
    assert engine.action("scan.truncated", INPUT) == "flag"


async def test_the_off_path_scan_over_budget_says_truncated_and_capture_stops_there():
    seen: list[int] = []
    config = SafetyConfig(max_scan_bytes=BUDGET, capture_text=True)
    stage, _ = stage_of(spy_engine(config, seen))
    await stage.start()
    state = stage.request(OP_CHAT, "r1")
    state.check_request(chat(CARDS + KEY))  # the key lies past the budget
    out = []
    finish(stage, make_record("r1"), out)
    await stage.stop()
    (r,) = out
    assert verdicts(r.safety) == {
        ("pii.card", "input", "flag"),
        ("scan.truncated", "input", "flag"),
    }
    assert max(seen) <= BUDGET
    assert len(r.prompt_text) == BUDGET + len(CUT_MARK) and r.prompt_text.endswith(CUT_MARK)
    assert KEY not in r.prompt_text and r.prompt_text.startswith("[REDACTED:pii.card]\n")
    truncated = [v.count for v in r.safety if v.filter == "scan.truncated"]
    assert truncated == [1]


async def test_a_small_request_finishes_while_a_big_off_path_scan_is_held():
    seen: list[int] = []
    hold = threading.Event()
    stage, _ = stage_of(spy_engine(SafetyConfig(), seen, hold))
    await stage.start()
    out = []
    try:
        for rid, text in (("big", CARDS), ("small", f"use {KEY}")):
            state = stage.request(OP_CHAT, rid)
            state.check_request(chat(text))
            finish(stage, make_record(rid), out)
        async with asyncio.timeout(10):
            while not out:
                await asyncio.sleep(0.001)
        assert [r.request_id for r in out] == ["small"]  # the big one is still held
    finally:
        hold.set()
    await stage.stop()
    assert [r.request_id for r in out] == ["small", "big"]
    assert ("pii.card", "input", "flag") in verdicts(out[1].safety)


async def test_a_small_request_is_checked_while_a_big_inline_check_is_held():
    seen: list[int] = []
    hold = threading.Event()
    stage, _ = stage_of(spy_engine(SafetyConfig(actions={"pii": "redact"}), seen, hold))
    await stage.start()
    big_body = chat(CARDS)
    big = asyncio.create_task(stage.request(OP_CHAT, "r1").check_request_async(big_body))
    try:
        small_body = chat("mail ana@example.org")
        small = stage.request(OP_CHAT, "r1")
        async with asyncio.timeout(10):
            assert await small.check_request_async(small_body) is None
        assert small_body["messages"][0]["content"] == "mail [REDACTED:pii.email]"
        assert not big.done()
    finally:
        hold.set()
    assert await big is None
    assert "4111" not in orjson.dumps(big_body).decode()
    await stage.stop()


async def test_a_big_response_is_checked_on_the_scan_thread_too():
    hold = threading.Event()
    stage, _ = stage_of(spy_engine(SafetyConfig(output_actions={"pii": "redact"}), [], hold))
    await stage.start()
    payload = orjson.dumps({"choices": [{"index": 0, "message": {"content": CARDS}}]})
    task = asyncio.create_task(stage.request(OP_CHAT, "r1").check_response_async(payload))
    await asyncio.sleep(0.01)
    assert not task.done()  # held on the scan thread, the loop free
    hold.set()
    sent = orjson.loads(await task)["choices"][0]["message"]["content"]
    assert sent.startswith("[REDACTED:pii.card]") and "4111" not in sent
    await stage.stop()


def test_scans_on_several_threads_at_once_each_use_their_own_scratch_space():
    """The event loop and the scan thread scan at once (Hyperscan releases the GIL): a
    shared scratch space made every scan but one fail with ScratchInUseError."""
    engine = SafetyEngine(SafetyConfig())
    text = "mail a@b.co or 4111 1111 1111 1111\n" * 20_000
    results: list = []
    start = threading.Barrier(4)

    def scan():
        start.wait()
        try:
            results.append(len(engine.scan(text)))
        except Exception as err:  # noqa: BLE001 (the failure is what is asserted on)
            results.append(repr(err))

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for t in threads:
        t.start()
    scan()
    for t in threads:
        t.join()
    assert results == [40_000] * 4
