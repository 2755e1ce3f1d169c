"""Review of issue 21 (routing, experiments) through a real in-process agent: requests the
agent refuses itself belong to no arm, and a shadow copy stays out of the general cost
families (both defects a review found, fixed)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.experiment_upstreams import CHAT, experiment_config

pytestmark = pytest.mark.integration


async def test_requests_refused_by_the_agent_belong_to_no_arm(fake_upstream, variant, start_agent):
    cfg = experiment_config(
        fake_upstream.url,
        variant.url,
        {"kind": "split", "sticky": "header:x-session"},
        weights=(50, 50),
    )
    ra = await start_agent(fake_upstream.url, **cfg)
    async with aiohttp.ClientSession() as s:
        for i in range(10):
            hdrs = {"Content-Type": "application/json", "x-session": f"s{i}"}
            async with s.post(ra.url + CHAT, data=b"{not json", headers=hdrs) as resp:
                assert resp.status == 400
            async with s.get(ra.url + CHAT, headers={"x-session": f"s{i}"}) as resp:
                assert resp.status == 405
    records = await ra.records(20)
    assert len(variant.bodies) == 0  # none of them reached an upstream
    labelled = [(r.http_status, r.experiment, r.variant) for r in records if r.variant]
    assert labelled == []


async def test_a_shadow_copy_is_not_counted_in_the_general_cost_metrics(
    fake_upstream, variant, start_agent
):
    cfg = experiment_config(
        fake_upstream.url, variant.url, {"kind": "shadow", "shadow": {"fraction": 1.0}}
    )
    cfg["upstreams"][1]["metered"] = True  # a second server on this machine's GPUs
    ra = await start_agent(fake_upstream.url, **cfg)
    async with aiohttp.ClientSession() as s:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with s.post(ra.url + CHAT, json=body) as resp:
            assert resp.status == 200
    records = await ra.records(2, timeout=10)
    copy = next(r for r in records if r.shadow_of is not None)
    assert copy.cost_status is not None  # the copy went through the cost engine
    # Each record released by the cost engine is counted once in the general cost families:
    # inferwatch_cost_request (metered) or inferwatch_cost_records_unmetered_total (here:
    # the tests run no meter). One client request; the copy is the experiment's alone.
    released = sum(
        x.value
        for m in ra.agent.registry.collect()
        for x in m.samples
        if x.name in ("inferwatch_cost_request_count", "inferwatch_cost_records_unmetered_total")
    )
    assert released == 1
