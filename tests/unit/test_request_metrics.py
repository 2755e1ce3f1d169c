"""`RequestMetrics` on a registry built from the catalogue: what a finished record adds."""

from __future__ import annotations

import pytest

from agent.config import MetricsConfig
from agent.metrics import RequestMetrics, new_registry
from tests.unit.test_cost_engine import record

pytestmark = pytest.mark.unit

MS = 1_000_000
LABELS = {"gen_ai_request_model": "m", "gen_ai_operation_name": "chat", "tenant": "t"}


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
