"""The sliding-window stream filter: split secrets are caught, only the tail is held back."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine
from agent.safety.stream import StreamFilter

pytestmark = pytest.mark.unit

KEY = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"
TEXT = f"Sure. Your key is {KEY} and the mail is ana@example.org, keep them safe. " * 3


@pytest.fixture(scope="module")
def redacting():
    return SafetyEngine(
        SafetyConfig(actions={"secret": "redact", "pii": "redact"}, window_chars=64)
    )


def run(engine, pieces):
    f = StreamFilter(engine)
    out, blocked = [], False
    for p in pieces:
        text, blocked = f.feed(p)
        out.append(text)
        if blocked:
            break
    if not blocked:
        out.append(f.finish())
    return "".join(out), blocked, f


def chunked(text, cuts):
    cuts = sorted(set(c % (len(text) + 1) for c in cuts))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_any_chunking_gives_the_same_redacted_text_as_the_whole(cuts):
    engine = SafetyEngine(
        SafetyConfig(actions={"secret": "redact", "pii": "redact"}, window_chars=64)
    )
    out, blocked, _ = run(engine, chunked(TEXT, cuts))
    assert not blocked and KEY not in out and "ana@example.org" not in out
    assert out == TEXT.replace(KEY, "[REDACTED:secret.openai_key]").replace(
        "ana@example.org", "[REDACTED:pii.email]"
    )


def test_a_key_split_token_by_token_is_caught(redacting):
    out, _, f = run(redacting, [c for c in TEXT])  # one character per chunk
    assert KEY not in out and KEY[:12] not in out
    assert f.counts[("secret.openai_key", "redact")] == 3


def test_only_the_window_is_held_back_not_the_whole_stream(redacting):
    f = StreamFilter(redacting)
    emitted = "".join(f.feed("plain words without anything sensitive. " * 10)[0] for _ in range(3))
    held = len("plain words without anything sensitive. ") * 30 - len(emitted)
    assert 0 < held <= 64 + 16  # the window plus one scanning step


def test_block_stops_the_stream_and_sends_only_the_clean_part():
    engine = SafetyEngine(SafetyConfig(actions={"secret": "block"}, window_chars=64))
    out, blocked, f = run(engine, ["Here it is: ", KEY[:10], KEY[10:], " more text"] * 2)
    assert blocked and out.startswith("Here it is:") and "sk-" not in out
    assert f.blocked.filter == "secret.openai_key" and f.feed("x") == ("", True)


def test_flag_only_hits_are_counted_once_and_the_text_is_untouched():
    engine = SafetyEngine(SafetyConfig(window_chars=64))
    out, _, f = run(engine, chunked(TEXT, range(0, len(TEXT), 7)))
    assert out == TEXT
    assert f.counts[("secret.openai_key", "flag")] == 3 and f.counts[("pii.email", "flag")] == 3
