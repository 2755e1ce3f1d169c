"""While the supervisor (re)starts vLLM (`upstream.state.starting`), the proxy answers
generative requests itself with a 503 and `Retry-After`, and each leaves a record saying
so. An agent in front of the fake upstream (not vLLM), served in-process."""

import aiohttp
import pytest

pytestmark = pytest.mark.integration

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_starting_upstream_gets_a_503_with_retry_after_and_a_record(agent, fake_upstream):
    agent.agent.upstream.state.starting = True  # what serving.supervisor sets
    async with aiohttp.ClientSession() as s:
        async with s.post(agent.url + "/v1/chat/completions", json=CHAT) as r:
            assert r.status == 503 and r.headers["Retry-After"] == "5"
            assert (await r.json())["error"]["type"] == "upstream_starting"
        agent.agent.upstream.state.starting = False
        async with s.post(agent.url + "/v1/chat/completions", json=CHAT) as r:
            assert r.status == 200
    first, second = sorted(await agent.records(2), key=lambda r: r.start_ns)
    assert (first.http_status, first.error_type) == (503, "upstream_starting")
    assert second.status == "ok"
    assert len(fake_upstream.received) == 1  # the refused one never reached it
