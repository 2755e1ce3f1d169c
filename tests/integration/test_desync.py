"""Response desync: through the agent, every client gets its own answer and nobody else's.

The upstream is the FastAPI-on-uvicorn test app (a stand-in for vLLM's HTTP server, not
vLLM): like vLLM it answers `Expect: 100-continue` with `100 Continue` first, which is what
let one client's completion reach another. See tests/integration/vllm/test_desync_vllm.py
for the same test against the real vLLM.
"""

from __future__ import annotations

import pytest

from tests.fuzz.desync import plans, run_clients, wrong_answers
from tests.uvicorn_upstream import MODEL, UvicornUpstream

pytestmark = pytest.mark.integration

N_REQUESTS = 64
CONCURRENCY = 16


@pytest.fixture
def uvicorn_upstream():
    """The uvicorn test upstream (not vLLM) on a free loopback port."""
    with UvicornUpstream() as up:
        yield up


def _expected_id(outcome) -> str:
    prefix = "chatcmpl" if outcome.plan.operation == "chat" else "cmpl"
    return f"{prefix}-{outcome.request_id}"


async def test_every_client_gets_its_own_answer_through_uvicorn_stand_in(
    uvicorn_upstream, start_agent
):
    agent = await start_agent(uvicorn_upstream.url)
    all_plans = plans(N_REQUESTS)
    assert any(p.transport != "aiohttp" for p in all_plans)  # some send Expect for real
    outcomes = await run_clients(agent.url, all_plans, MODEL, CONCURRENCY)

    problems = wrong_answers(outcomes, lambda o: True, _expected_id)
    assert not problems, f"{len(outcomes)} clients:\n" + "\n".join(problems)
    # The upstream answered each request id with that client's own prompt.
    for o in outcomes:
        seen = uvicorn_upstream.seen[o.request_id]
        assert o.plan.marker in seen.prompt and seen.status == 200, (o.plan, seen)
        assert seen.expect is None, f"Expect forwarded upstream: {o.plan}"
    # Every record says what its client got.
    records = {r.request_id: r for r in await agent.records(len(outcomes))}
    got = {o.request_id: o.status for o in outcomes}
    assert {rid: records[rid].http_status for rid in got} == got
    assert len(records) == len(outcomes)
