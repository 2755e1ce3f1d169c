"""The cost series on a real prometheus_client registry built from the catalogue."""

from __future__ import annotations

import pytest

from agent.config import MetricsConfig
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig
from agent.cost.engine import CostEngine
from agent.cost.metrics import CostMetrics
from agent.metrics import new_registry
from tests.unit.test_cost_engine import interval, record

pytestmark = pytest.mark.unit

S = 1_000_000_000


@pytest.fixture
def setup():
    registry, instruments = new_registry()
    cfg = CostConfig(
        prices={"cpu-core": {"per_hour": 3600.0}},
        hosted_prices={"m": {"input_per_1m": 1.0, "output_per_1m": 4.0}},
        budgets={"a": 0.5},
    )
    sink = CostMetrics(instruments, cfg, MetricsConfig(), Budgets(cfg.budgets, "USD"))
    out = []
    return registry, CostEngine(cfg, out.append, sink, clock=lambda: 0), out


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels) or 0.0


def test_series_add_up_and_compare_with_hosted_prices(setup):
    registry, eng, out = setup
    eng.begin("x", 0, "a", "m", True)
    eng.begin("y", 0, "b", "m", True)
    eng.finish(record("x", 0, S // 2, S // 4, 1000, 100, tenant="a"))
    eng.finish(record("y", 0, S // 2, S // 4, 1000, 300, tenant="b"))
    eng.on_intervals([interval(0, S, busy=0.8)])
    cur = {"currency": "USD"}
    metered = value(registry, "inferwatch_cost_metered_total", device_type="cpu-core", **cur)
    idle = value(registry, "inferwatch_cost_idle_total", device_type="cpu-core", **cur)
    a, b = (
        value(registry, "inferwatch_cost_requests_total", gen_ai_request_model="m", tenant=t, **cur)
        for t in "ab"
    )
    assert metered == pytest.approx(0.8) and idle == pytest.approx(0.4)
    assert a + b + idle == pytest.approx(metered, rel=1e-9)
    assert b > a  # more decode work
    assert value(registry, "inferwatch_cost_request_count", gen_ai_request_model="m", **cur) == 2
    hosted = value(
        registry,
        "inferwatch_cost_hosted_equivalent_total",
        gen_ai_request_model="m",
        tenant="a",
        **cur,
    )
    assert hosted == pytest.approx((1000 * 1.0 + 100 * 4.0) / 1e6)
    per_out = value(
        registry, "inferwatch_cost_per_million_tokens", gen_ai_request_model="m",
        gen_ai_token_type="output", **cur,
    )  # fmt: skip
    assert per_out > 0
    assert value(registry, "inferwatch_cost_device_utilization_ratio", device_id="cpu:h",
                 device_type="cpu-core") == pytest.approx(0.8)  # fmt: skip
    assert value(registry, "inferwatch_cost_budget_exceeded_total", tenant="a") == 0
    assert value(registry, "inferwatch_cost_budget_ratio", tenant="a") == pytest.approx(a / 0.5)
    assert sum(r.cost_amount for r in out) == pytest.approx(a + b)


def test_crossing_a_budget_counts_once(setup):
    registry, eng, _ = setup
    for i in range(3):
        eng.begin(f"r{i}", i * S, "a", "m", False)
        eng.finish(record(f"r{i}", i * S, (i + 1) * S, None, 10, 10, stream=False, tenant="a"))
        eng.on_intervals([interval(i * S, (i + 1) * S)])
    assert value(registry, "inferwatch_cost_budget_exceeded_total", tenant="a") == 1
    assert value(registry, "inferwatch_cost_tenant_spend_today", tenant="a", currency="USD") == (
        pytest.approx(3.0)
    )
