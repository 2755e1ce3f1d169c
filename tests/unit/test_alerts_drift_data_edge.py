"""Text descriptors at the edge: the safety stage puts `text_stats` on the record when
capture is off (from the texts it already keeps), none when capture is on (the source
describes the stored redacted text), and a failing describe costs only the descriptors.
`describe` is a stand-in here (`len` of the text), so these test the wiring, not the
descriptors themselves (drift-stats tests those)."""

from __future__ import annotations

import sys
import types

import pytest

from agent.record import OP_CHAT
from agent.safety.config import SafetyConfig
from tests.unit.test_safety_stage import KEY, make, record, response

pytestmark = pytest.mark.unit


def finish(stage, record, out):
    """Hand `record` to the stage, whose output goes to `out`."""
    stage.connect(out.append)
    stage.process(record)


@pytest.fixture
def stand_in_describe(monkeypatch):
    module = types.ModuleType("alerts.drift.text")
    module.describe = lambda text: {"chars": len(text), "words": len(text.split())}
    monkeypatch.setitem(sys.modules, "alerts.drift.text", module)
    return module


def finished(config: SafetyConfig, prompt: str, answer: str):
    stage, _ = make(config)
    state = stage.request(OP_CHAT, "r1")
    state.check_request({"messages": [{"role": "user", "content": prompt}]})
    state.check_response(response(answer))
    out = []
    finish(stage, record(), out)  # not started: checked at once
    return out[0]


def test_capture_off_puts_descriptors_of_both_texts_on_the_record(stand_in_describe):
    r = finished(SafetyConfig(), f"use {KEY} now", "mail a@b.co")
    assert r.text_stats == {
        "prompt_chars": float(len(f"use {KEY} now")),
        "prompt_words": 3.0,
        "completion_chars": 11.0,
        "completion_words": 2.0,
    }
    assert r.prompt_text is None and {v.filter for v in r.safety} >= {"secret.openai_key"}


def test_inline_filters_still_get_descriptors(stand_in_describe):
    config = SafetyConfig(actions={"secret": "redact"})
    r = finished(config, "hello there", "ok")
    assert r.text_stats["prompt_words"] == 2.0 and r.text_stats["completion_chars"] == 2.0


def test_capture_on_keeps_redacted_text_and_no_descriptors(stand_in_describe):
    r = finished(SafetyConfig(capture_text=True), f"use {KEY}", "ok")
    assert r.text_stats is None and r.prompt_text == "use [REDACTED:secret.openai_key]"


def test_descriptors_off_leaves_none(stand_in_describe):
    assert finished(SafetyConfig(text_descriptors=False), "hi", "ok").text_stats is None


def test_a_failing_describe_keeps_the_verdicts(monkeypatch):
    module = types.ModuleType("alerts.drift.text")
    module.describe = lambda text: 1 / 0
    monkeypatch.setitem(sys.modules, "alerts.drift.text", module)
    r = finished(SafetyConfig(), f"use {KEY}", "ok")
    assert r.text_stats is None and {v.filter for v in r.safety} == {"secret.openai_key"}


def test_descriptors_ship_as_doubles_through_the_mapping_template():
    from agent.shipping.ecs import DocContext, to_document
    from agent.shipping.template import MAPPING
    from tests.store_records import make_record

    doc = to_document(make_record(1, text_stats={"prompt_chars": 3.0}), DocContext(host_name="h"))
    assert doc["inferwatch"]["text_stats"] == {"prompt_chars": 3.0}
    (template,) = [t["text_stats"] for t in MAPPING["dynamic_templates"] if "text_stats" in t]
    assert template == {"path_match": "inferwatch.text_stats.*", "mapping": {"type": "double"}}
    assert MAPPING["properties"]["inferwatch"]["properties"]["text_stats"]["dynamic"] is True
