"""Spellings of the generative paths at the agent's edge: none may reach vLLM unmetered.

`/v1/chat/completions/`, `/v1/./chat/completions`, `//v1/...`, `%2F`, `..` segments and case
changes are sent raw (client libraries normalise them) to an agent in front of the
FastAPI-on-uvicorn test upstream (a stand-in for vLLM), with the safety filter set to
redact e-mail addresses. The stand-in logs which of its handlers answered each request
(by the x-request-id the agent forwarded) and the prompt that handler got. Invariants:

- a request that reached the upstream's chat or completions handler was metered as that
  operation (its record says so) and went through the safety scan (the upstream got the
  prompt with the address redacted); any other is refused with 404 or 400;
- never a 5xx; the record's status is the client's; `/metrics` renders after each one.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agent.record import OP_CHAT, OP_COMPLETION
from tests.fuzz.harness import ONE_AGENT, Invariants, ThreadedAgent, metrics_page
from tests.fuzz.rawhttp import send
from tests.uvicorn_upstream import MODEL, UvicornUpstream

pytestmark = pytest.mark.integration

ENDPOINTS = {"/v1/chat/completions": OP_CHAT, "/v1/completions": OP_COMPLETION}
EMAIL = "alice.fuzz@example.com"


def _pct(ch: str, lower: bool) -> str:
    code = f"%{ord(ch):02X}"
    return code.lower() if lower else code


@st.composite
def spellings(draw) -> tuple[str, bytes]:
    """(canonical path, a raw request-target that may or may not mean it)."""
    path = draw(st.sampled_from(sorted(ENDPOINTS)))
    segments = path.strip("/").split("/")
    out: list[str] = []
    for seg in segments:
        out += draw(st.lists(st.sampled_from([".", "", "x/.."]), max_size=2))  # noise before
        chars = [_pct(c, draw(st.booleans())) if draw(st.integers(0, 9)) == 0 else c for c in seg]
        word = "".join(chars)
        out.append(word.upper() if draw(st.integers(0, 7)) == 0 else word)
    sep = draw(st.sampled_from(["/", "/", "/", "%2F", "%2f"]))  # mostly a real slash
    target = "/" + sep.join(out)
    if draw(st.booleans()):
        target = draw(st.sampled_from(["/", "//", "/."])) + target.lstrip("/")
    target += draw(st.sampled_from(["", "", "/", "/.", "?", "?a=1", "#f"]))
    return path, target.encode()


def _body(path: str) -> bytes:
    text = f"write to {EMAIL} today"
    if ENDPOINTS[path] == OP_CHAT:
        return orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}]})
    return orjson.dumps({"model": MODEL, "prompt": text})


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """The agent (e-mail addresses redacted) in front of the uvicorn stand-in (not vLLM)."""
    store = tmp_path_factory.mktemp("edge-paths")
    overrides = {"cost": {"enabled": False}, "safety": {"actions": {"pii.email": "redact"}}}
    with UvicornUpstream(max_delay_s=0) as up, ThreadedAgent(up.url, store, **overrides) as agent:
        yield up, agent, Invariants(agent.url, agent.sink, agent.store_path)


@ONE_AGENT
@given(spelling=spellings())
@example(spelling=("/v1/chat/completions", b"/v1/chat/completions"))  # the control
@example(spelling=("/v1/chat/completions", b"/v1/chat/completions/"))  # issue 15
@example(spelling=("/v1/chat/completions", b"/v1/./chat/completions"))
@example(spelling=("/v1/chat/completions", b"/v1/chat%2Fcompletions"))
@example(spelling=("/v1/chat/completions", b"//v1/chat/completions"))
@example(spelling=("/v1/chat/completions", b"/v1/x/../chat/completions"))
@example(spelling=("/v1/completions", b"/V1/completions"))
def test_path_spellings_are_metered_or_refused(edge, spelling):
    up, agent, invariants = edge
    path, target = spelling
    headers = [(b"Content-Type", b"application/json")]
    r = send(agent.url, "POST", target, headers, _body(path))
    what = f"POST {target!r} (means {path})"
    assert r.status < 500, f"{what} -> {r.status} {r.body[:300]!r}"
    rid = r.header("x-request-id")
    seen = up.seen.get(rid) if rid else None
    if seen is not None and seen.path in ENDPOINTS:
        rec = invariants.record(rid)
        assert rec.operation == ENDPOINTS[seen.path], (
            f"{what} reached upstream {seen.path} metered as {rec.operation!r} ({rec.path})"
        )
        assert EMAIL not in (seen.prompt or ""), f"{what} reached {seen.path} unscanned"
    else:
        assert r.status in (400, 404), f"{what} -> {r.status}, upstream saw {seen}"
    if rid is not None:
        invariants.check(what, r.status, r.headers, r.body)
    else:
        metrics_page(agent.url)


def test_store_and_metrics_after_path_spellings(edge):
    """Runs after the hypothesis test in this module: everything answered was stored."""
    _, _, invariants = edge
    invariants.settle()
    assert invariants.cases > 0
