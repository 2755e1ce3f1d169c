"""`RequestMetrics` on a registry built from the catalogue: what a finished record adds."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.config import MetricsConfig
from agent.metrics import RequestMetrics, new_registry
from agent.metrics_stage import MetricsStage
from agent.record import OP_OTHER, STATUS_ERROR
from tests.unit.test_cost_engine import record

pytestmark = pytest.mark.unit

MS = 1_000_000
LABELS = {"gen_ai_request_model": "m", "gen_ai_operation_name": "chat"}


def counts(registry) -> tuple[float, float]:
    """Observations of (time to first token, time per output token)."""
    ttft = registry.get_sample_value("gen_ai_server_time_to_first_token_seconds_count", LABELS)
    tpot = registry.get_sample_value("gen_ai_server_time_per_output_token_seconds_count", LABELS)
    return ttft or 0.0, tpot or 0.0


def test_time_per_output_token_is_observed_for_streams_only():
    registry, instruments = new_registry()
    metrics = RequestMetrics(instruments, MetricsConfig())
    # Not streamed: the whole answer came at 900 ms, the "first token" with it; 20 tokens.
    metrics.observe(record("whole", 0, 901 * MS, 900 * MS, 5, 20, stream=False))
    assert counts(registry) == (1.0, 0.0)  # its ttft is its generation time; no tpot
    metrics.observe(record("streamed", 0, 900 * MS, 100 * MS, 5, 21, stream=True))
    assert counts(registry) == (2.0, 1.0)
    total = registry.get_sample_value("gen_ai_server_time_per_output_token_seconds_sum", LABELS)
    assert total == pytest.approx(0.04)  # 800 ms over the 20 tokens after the first
    metrics.observe(record("one-token", 0, 900 * MS, 100 * MS, 5, 1, stream=True))
    assert counts(registry) == (3.0, 1.0)  # a single token has no time per output token


def fresh(**config):
    registry, instruments = new_registry()
    return registry, RequestMetrics(instruments, MetricsConfig(**config))


def value(registry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_request_histograms_carry_no_tenant():
    registry, metrics = fresh()
    metrics.observe(record("a", 0, 900 * MS, 100 * MS, 5, 21, tenant="acme"))
    metrics.observe(record("b", 0, 900 * MS, 100 * MS, 5, 21, tenant="beta"))
    # Two tenants, one series: the count holds both.
    assert (
        value(registry, "gen_ai_server_request_duration_seconds_count", **LABELS, status="ok") == 2
    )
    assert (
        value(registry, "gen_ai_client_token_usage_sum", **LABELS, gen_ai_token_type="output") == 42
    )
    with_tenant = {**LABELS, "tenant": "acme"}
    assert (
        registry.get_sample_value("gen_ai_server_time_to_first_token_seconds_count", with_tenant)
        is None
    )


def test_requests_total_counts_by_model_tenant_and_status():
    registry, metrics = fresh()
    metrics.observe(record("a", 0, 900 * MS, 100 * MS, 5, 21, tenant="acme"))
    metrics.observe(record("b", 0, 900 * MS, 100 * MS, 5, 21, tenant="acme"))
    failed = replace(record("c", 0, 50 * MS, tenant="acme"), status=STATUS_ERROR, http_status=500)
    metrics.observe(failed)
    metrics.observe(record("d", 0, 900 * MS, 100 * MS, 5, 21, tenant="beta"))
    at = {"gen_ai_request_model": "m", "tenant": "acme"}
    assert value(registry, "inferwatch_requests_total", **at, status="ok") == 2
    assert value(registry, "inferwatch_requests_total", **at, status="error") == 1
    assert (
        value(registry, "inferwatch_requests_total", **{**at, "tenant": "beta"}, status="ok") == 1
    )


def test_tokens_total_adds_each_requests_tokens_per_tenant():
    registry, metrics = fresh()
    metrics.observe(record("a", 0, 900 * MS, 100 * MS, 5, 21, tenant="acme"))
    metrics.observe(record("b", 0, 900 * MS, 100 * MS, 7, 30, tenant="acme"))
    metrics.observe(record("c", 0, 900 * MS, 100 * MS, 1000, 1000, tenant="beta"))
    at = {"gen_ai_request_model": "m", "tenant": "acme"}
    assert value(registry, "inferwatch_tokens_total", **at, gen_ai_token_type="input") == 12
    assert value(registry, "inferwatch_tokens_total", **at, gen_ai_token_type="output") == 51


def test_tenant_histograms_hold_the_slo_bounds_only():
    registry, metrics = fresh()
    metrics.observe(record("fast", 0, 1000 * MS, 200 * MS, 5, 21, tenant="acme"))
    metrics.observe(record("slow", 0, 12_000 * MS, 3000 * MS, 5, 21, tenant="acme"))
    name = "inferwatch_tenant_request_duration_seconds"
    assert value(registry, f"{name}_bucket", tenant="acme", le="1.28") == 1
    assert value(registry, f"{name}_bucket", tenant="acme", le="10.24") == 1
    assert value(registry, f"{name}_bucket", tenant="acme", le="20.48") == 2
    assert value(registry, f"{name}_sum", tenant="acme") == pytest.approx(13.0)
    ttft = "inferwatch_tenant_time_to_first_token_seconds"
    assert value(registry, f"{ttft}_bucket", tenant="acme", le="0.25") == 1
    assert value(registry, f"{ttft}_bucket", tenant="acme", le="2.5") == 1
    assert value(registry, f"{ttft}_bucket", tenant="acme", le="5.0") == 2
    page = registry.render().decode()
    buckets = [line for line in page.splitlines() if line.startswith(f"{name}_bucket{{")]
    assert len(buckets) == 6 and all('tenant="acme"' in line for line in buckets)  # 5 + "+Inf"


def test_tenant_label_is_capped_on_the_new_families():
    registry, metrics = fresh(max_tenants=1)
    metrics.observe(record("a", 0, 900 * MS, 100 * MS, 5, 21, tenant="first"))
    metrics.observe(record("b", 0, 900 * MS, 100 * MS, 5, 21, tenant="second"))
    at = {"gen_ai_request_model": "m", "status": "ok"}
    assert value(registry, "inferwatch_requests_total", **at, tenant="first") == 1
    assert value(registry, "inferwatch_requests_total", **at, tenant="other") == 1
    assert value(registry, "inferwatch_tenant_request_duration_seconds_count", tenant="other") == 1


def test_other_operations_are_counted_but_carry_no_tokens_or_ttft():
    registry, metrics = fresh()
    metrics.observe(replace(record("x", 0, 900 * MS, 100 * MS, 5, 21), operation=OP_OTHER))
    at = {"gen_ai_request_model": "m", "tenant": "t"}
    assert value(registry, "inferwatch_requests_total", **at, status="ok") == 1
    assert value(registry, "inferwatch_tokens_total", **at, gen_ai_token_type="input") == 0
    assert value(registry, "inferwatch_tenant_time_to_first_token_seconds_count", tenant="t") == 0


def test_a_shadow_copy_is_not_counted_in_the_tenant_families():
    registry, instruments = new_registry()
    stage = MetricsStage(
        RequestMetrics(instruments, MetricsConfig()),
        instruments["inferwatch_safety_filter_hits_total"],
    )
    passed = []
    stage.connect(passed.append)
    stage.process(record("p", 0, 900 * MS, 100 * MS, 5, 21))
    stage.process(replace(record("s", 0, 900 * MS, 100 * MS, 5, 21), shadow_of="p"))
    assert len(passed) == 2  # both go on to the sinks
    at = {"gen_ai_request_model": "m", "tenant": "t"}
    assert value(registry, "inferwatch_requests_total", **at, status="ok") == 1
    assert value(registry, "inferwatch_tokens_total", **at, gen_ai_token_type="output") == 21
    assert value(registry, "inferwatch_tenant_request_duration_seconds_count", tenant="t") == 1
