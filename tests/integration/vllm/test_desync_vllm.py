"""Response desync against the real vLLM: through the agent, every client gets its own answer.

vLLM (uvicorn) answers `Expect: 100-continue` with `100 Continue` first. The tiny model's
text is random, so the marker comes back another way: completions use `echo: true` (the
prompt, marker included, leads the text); chat answers carry `chatcmpl-<x-request-id>`,
vLLM's id built from the request id the agent forwarded and also returned to the client.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.fuzz.desync import plans, run_clients, wrong_answers

pytestmark = [pytest.mark.vllm, pytest.mark.integration]


async def test_every_client_gets_its_own_answer_from_vllm(stack):
    all_plans = plans(64)
    outcomes = await run_clients(stack.url, all_plans, stack.model, 16, max_tokens=2)

    def has_marker(o) -> bool:
        return o.plan.operation == "completion"

    def expected_id(o) -> str | None:
        return f"chatcmpl-{o.request_id}" if o.plan.operation == "chat" else None

    problems = wrong_answers(outcomes, has_marker, expected_id)
    assert not problems, f"{len(outcomes)} clients:\n" + "\n".join(problems)
    rids = [o.request_id for o in outcomes]
    async with asyncio.timeout(60):  # records reach the sink once the cost engine metered them
        while not all(
            rid in (records := {r.request_id: r for r in stack.sink.records}) for rid in rids
        ):
            await asyncio.sleep(0.1)
    got = {o.request_id: o.status for o in outcomes}
    assert {rid: records[rid].http_status for rid in rids} == got
