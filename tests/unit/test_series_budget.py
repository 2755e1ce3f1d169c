"""The /metrics series budget at 8 GPUs x 50 tenants x 5 models (issue 22): the agent's
real registry, fed every operation and ending for every tenant x model pair, stays within
10,000 series with room for what the collectors and the cost stage add.

See docs/design/series-budget.md for the design and the per-family counts."""

from __future__ import annotations

import pytest

from agent.config import MetricsConfig
from agent.metrics import RequestMetrics, new_registry
from bench.collectors_bench import MODELS, TENANTS, full_records, series

pytestmark = pytest.mark.unit

BUDGET = 10_000
# What other parts add at the shape (docs/design/series-budget.md, section 2): 8 GPUs x ~24
# and the host (~200), the vLLM re-export at 5 models (785), the cost families (cost and
# hosted equivalent per model x tenant pair: 500; per model and device: ~100).
OTHERS = 1_600


def page_at_the_shape() -> bytes:
    registry, instruments = new_registry()
    metrics = RequestMetrics(instruments, MetricsConfig(max_tenants=TENANTS, max_models=MODELS))
    for r in full_records():
        metrics.observe(r)
    return registry.render()


def test_the_page_at_50_tenants_and_5_models_stays_within_the_series_budget():
    page = page_at_the_shape()
    assert series(page) <= BUDGET - OTHERS, series(page)
    # Every pair was seen (the traffic reaches the caps, nothing went to `other`).
    assert page.count(b'inferwatch_requests_total{gen_ai_request_model="model-4"') == TENANTS * 3
    assert b'tenant="other"' not in page


def test_tenant_appears_only_on_the_per_tenant_families():
    lines = [line for line in page_at_the_shape().splitlines() if b'tenant="' in line]
    families = {
        line.split(b"{")[0].removesuffix(b"_bucket").removesuffix(b"_count") for line in lines
    }
    families = {f.removesuffix(b"_sum") for f in families}
    assert families == {
        b"inferwatch_requests_total",
        b"inferwatch_tokens_total",
        b"inferwatch_tenant_request_duration_seconds",
        b"inferwatch_tenant_time_to_first_token_seconds",
    }
