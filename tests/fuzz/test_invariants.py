"""The fuzz invariants themselves can fail: an upstream's 5xx passes, the agent's own does not."""

from __future__ import annotations

import socket

import orjson
import pytest

from tests.fuzz.harness import Invariants, ThreadedAgent
from tests.fuzz.rawhttp import send
from tests.uvicorn_upstream import MODEL, UvicornUpstream

pytestmark = pytest.mark.integration

CHAT = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
JSON = (b"Content-Type", b"application/json")


def test_upstream_5xx_passes_and_agent_5xx_is_caught_with_uvicorn_stand_in(tmp_path):
    with UvicornUpstream(max_delay_s=0) as up, ThreadedAgent(up.url, tmp_path / "s") as agent:
        sent = lambda rid: up.seen[rid].status if rid in up.seen else None  # noqa: E731
        inv = Invariants(agent.url, agent.sink, agent.store_path, sent)
        r = send(
            agent.url, "POST", b"/v1/chat/completions", [JSON, (b"x-test-status", b"503")], CHAT
        )
        assert r.status == 503
        inv.check("upstream 503", r.status, r.headers, r.body)  # passed through: no error
        inv.settle()
        with pytest.raises(AssertionError, match="5xx made by the agent"):
            inv.check("forged", 502, {"x-request-id": "never-sent-upstream"}, b"{}")


def test_agent_5xx_is_caught_by_its_body_where_the_upstream_keeps_no_log(tmp_path):
    with socket.socket() as s:  # a port nothing listens on: the agent answers 502 itself
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with ThreadedAgent(dead, tmp_path / "s") as agent:
        inv = Invariants(agent.url, agent.sink, agent.store_path, upstream_sent=None)
        r = send(agent.url, "POST", b"/v1/chat/completions", [JSON], CHAT)
        assert r.status == 502
        assert inv.agent_made_5xx(r.status, r.header("x-request-id"), r.body)
    vllm_500 = {"error": {"message": "boom", "type": "InternalServerError", "code": 500}}
    assert not inv.agent_made_5xx(500, "x", orjson.dumps(vllm_500))
    agent_500 = {"error": {"message": "internal error in the agent", "type": "internal_error"}}
    assert inv.agent_made_5xx(500, "x", orjson.dumps(agent_500))
    assert inv.agent_made_5xx(
        500, None, b"500 Internal Server Error\n\nServer got itself in trouble"
    )
