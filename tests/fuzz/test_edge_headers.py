"""Hostile header values at the agent's edge: tenant, x-request-id, traceparent.

Sent over a bare socket (aiohttp's and requests' clients refuse most of these bytes) to an
agent in front of the FastAPI-on-uvicorn test upstream (a stand-in for vLLM). Whatever the
value, after each request:

- the answer is 2xx or 4xx, never a 5xx (the stand-in sends none);
- an answer naming its request (x-request-id) has a record with the status the client
  got; one that names none was refused before any handler ran, so it must be a 4xx;
- the record holds only clean strings: tenant, ids, trace ids printable, valid UTF-8;
- `/metrics` still renders and parses, and the store keeps writing (checked at the end).
"""

from __future__ import annotations

import string

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.harness import ONE_AGENT, Invariants, ThreadedAgent, metrics_page
from tests.fuzz.rawhttp import send
from tests.uvicorn_upstream import MODEL, UvicornUpstream

pytestmark = pytest.mark.integration

HEADERS = (b"x-tenant-id", b"x-request-id", b"traceparent")
# CR and LF end a header line: with them the bytes are no longer one header value.
_VALUE_BYTES = [bytes([b]) for b in range(256) if b not in (0x0D, 0x0A)]
_HOSTILE = [b"t\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\x1b[31m", b"\x7f", b"a\tb"]

values = st.one_of(
    st.lists(st.sampled_from(_VALUE_BYTES), min_size=1, max_size=40).map(b"".join),
    st.sampled_from(_HOSTILE),
    st.text(min_size=1, max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(100, 20_000).map(lambda n: b"t" * n),  # very long
    st.text(string.printable.strip(), min_size=1, max_size=80).map(str.encode),
).filter(lambda v: b"\r" not in v and b"\n" not in v)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """The agent in front of the uvicorn stand-in (not vLLM), and its invariants."""
    store = tmp_path_factory.mktemp("edge-headers")
    # No cost engine: it holds each record until metered, and each case reads its record.
    no_cost = {"cost": {"enabled": False}}
    with UvicornUpstream(max_delay_s=0) as up, ThreadedAgent(up.url, store, **no_cost) as agent:
        yield agent, Invariants(agent.url, agent.sink, agent.store_path)


def _clean(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes that were not UTF-8
        return False
    return text.isprintable()


@ONE_AGENT
@given(name=st.sampled_from(HEADERS), value=values)
@example(name=b"x-tenant-id", value=b"t\xff")  # issue 15: wedged /metrics and the store
@example(name=b"x-request-id", value=b"r\xff")
@example(name=b"traceparent", value=b"00-\xff")
@example(name=b"x-tenant-id", value=b"t" * 10_000)
def test_hostile_header_values_never_break_the_agent(edge, name, value):
    agent, invariants = edge
    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    headers = [(b"Content-Type", b"application/json"), (name, value)]
    r = send(agent.url, "POST", b"/v1/chat/completions", headers, body)
    what = f"{name.decode()}: {value[:200]!r}"
    assert r.status < 500, f"{what} -> {r.status} {r.body[:300]!r}"
    if r.header("x-request-id") is None:
        assert 400 <= r.status < 500, f"{what} -> {r.status} naming no request"
        metrics_page(agent.url)
    else:
        invariants.check(what, r.status, r.headers, r.body)
        rec = invariants.record(r.header("x-request-id"))
        fields = (rec.tenant, rec.request_id, rec.trace_id, rec.parent_span_id, rec.model)
        assert all(_clean(f) for f in fields), f"{what}: unclean record {rec}"
        assert len(rec.tenant) <= 256 and len(rec.request_id) <= 256, f"{what}: {rec}"
        assert _clean(getattr(rec, "client_request_id", None)), f"{what}: {rec}"


def test_store_and_metrics_after_hostile_headers(edge):
    """Runs after the hypothesis test in this module: everything answered was stored."""
    agent, invariants = edge
    invariants.settle()
    assert invariants.cases > 0
