"""`inferwatch demo-traffic` against the agent in front of a real vLLM."""

from __future__ import annotations

import asyncio

import pytest

from serving.demo import run_demo

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]


def test_demo_traffic_is_served_and_recorded_per_tenant(stack):
    before = len(stack.sink.records)
    summary = asyncio.run(run_demo(stack.url, None, requests=12, concurrency=4, seed=3))
    assert summary.statuses == {200: 12}, summary.describe()
    records = stack.wait_records(before + 12)[before:]
    assert len(records) == 12
    assert len({r.tenant for r in records}) >= 2
    assert {r.stream for r in records} == {True, False}
    assert all(r.completion_tokens for r in records)
