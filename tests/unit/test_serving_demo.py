"""The demo traffic mix."""

from __future__ import annotations

import pytest

from serving.demo import TENANTS, make_mix

pytestmark = pytest.mark.unit


def test_mix_is_seeded_and_covers_every_kind_of_request():
    mix = make_mix("m", 200, seed=1)
    assert mix == make_mix("m", 200, seed=1)
    assert mix != make_mix("m", 200, seed=2)
    assert {r.kind for r in mix} == {"short", "long", "pii", "injection"}
    assert {r.tenant for r in mix} == set(TENANTS)
    assert {(r.path, r.body["stream"]) for r in mix} == {
        ("/v1/chat/completions", True),
        ("/v1/chat/completions", False),
        ("/v1/completions", True),
        ("/v1/completions", False),
    }
    assert all(r.body["model"] == "m" for r in mix)


def test_long_prompts_are_long_and_injection_prompts_say_so():
    mix = make_mix("m", 300)
    longest = max(len(r.body.get("prompt") or r.body["messages"][0]["content"]) for r in mix)
    assert longest > 1500
    texts = [
        r.body.get("prompt") or r.body["messages"][0]["content"]
        for r in mix
        if r.kind == "injection"
    ]
    assert texts and all("ignore" in t.lower() or "disregard" in t.lower() for t in texts)
