"""`inferwatch demo-traffic` against the agent in front of a real vLLM."""

from __future__ import annotations

import asyncio

import pytest

from serving.demo import run_demo

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.timeout(900)]


def test_demo_traffic_is_served_and_recorded_per_tenant(stack):
    before = len(stack.sink.records)
    summary = asyncio.run(run_demo(stack.url, None, requests=12, concurrency=4, seed=3))
    assert summary.statuses == {200: 12}, summary.describe()
    # 13 records: the demo first asks GET /v1/models which model to use.
    records = stack.wait_records(before + 13)[before:]
    assert [r.path for r in records if r.operation == "other"] == ["/v1/models"]
    records = [r for r in records if r.operation != "other"]
    assert len(records) == 12
    assert len({r.tenant for r in records}) >= 2
    assert {r.stream for r in records} == {True, False}
    assert all(r.completion_tokens for r in records)
