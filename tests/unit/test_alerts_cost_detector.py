"""The cost detector end to end over an in-memory stand-in for the record source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.cost.config import CostAlertsConfig
from alerts.cost.detector import ANOMALY_ALERT, CostDetector

pytestmark = pytest.mark.unit

T0 = 1704067200.0  # 2024-01-01 00:00 UTC


class FrameSourceStandIn:
    """The record source contract over a DataFrame held in memory; remembers each read."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame_all, self.reads, self.fail = frame, [], False

    def frame(self, start: float, end: float) -> pd.DataFrame:
        if self.fail:
            raise OSError("database is locked")
        self.reads.append((start, end))
        w = self.frame_all["wall_time"]
        return self.frame_all[(w >= start) & (w < end)]


def traffic(hours=4.0, spike_tenant=None, spike_minutes=10, factor=3.0, seed=0):
    """Three tenants, about 2 requests a second, 0.01 each; the last minutes of one
    tenant's traffic cost `factor` times more."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * 2)
    wall = T0 + np.sort(rng.uniform(0, hours * 3600, n))
    tenant = rng.choice(["acme", "beta", "gamma"], n)
    model = rng.choice(["small", "large"], n)
    cost = np.full(n, 0.01)
    if spike_tenant:
        late = wall >= T0 + hours * 3600 - spike_minutes * 60
        cost[late & (tenant == spike_tenant)] *= factor * 3  # a third of traffic: total ~3x
    return pd.DataFrame(
        {
            "wall_time": wall,
            "tenant": tenant,
            "model": model,
            "cost_amount": cost,
            "completion_tokens": 100.0,
        }
    )


def test_a_spike_is_alerted_with_its_size_and_the_tenant_that_caused_it():
    frame = traffic(spike_tenant="beta")
    det = CostDetector(CostAlertsConfig(), FrameSourceStandIn(frame), currency="EUR")
    alerts = {a.labels["segment"]: a for a in det.evaluate(T0 + 4 * 3600)}
    assert {"total", "tenant=beta"} <= set(alerts)
    assert "tenant=acme" not in alerts and "tenant=gamma" not in alerts
    total = alerts["total"]
    assert total.labels["alertname"] == ANOMALY_ALERT and total.labels["series"] == "cost"
    first = total.annotations["top_contributors"].split(", ")[0]
    assert first.startswith("tenant=beta +") and first.endswith("EUR")
    added = float(total.annotations["size"])
    late = frame[frame["wall_time"] >= T0 + 4 * 3600 - 600]
    true_extra = late["cost_amount"].sum() - 0.01 * len(late)
    assert added == pytest.approx(true_extra, rel=0.2)
    assert alerts["tenant=beta"].labels["tenant"] == "beta"
    assert float(total.annotations["expected"]) < float(total.annotations["observed"])


def test_a_quiet_history_raises_nothing_and_exposes_the_gauges():
    det = CostDetector(CostAlertsConfig(), FrameSourceStandIn(traffic()))
    assert det.evaluate(T0 + 4 * 3600) == []
    registry = CollectorRegistry()
    registry.register(type("C", (), {"collect": lambda self: det.families()})())
    text = generate_latest(registry).decode()
    assert 'inferwatch_cost_anomaly{segment="tenant=acme",series="cost"} 0.0' in text
    assert 'inferwatch_cost_anomaly_expected{segment="total",series="cost"}' in text


def test_too_little_history_reports_not_enough_data():
    det = CostDetector(
        CostAlertsConfig(), FrameSourceStandIn(traffic(hours=0.2, spike_tenant="beta"))
    )
    assert det.evaluate(T0 + 0.2 * 3600) == []
    assert det.result == "not_enough_data"


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf])
def test_hostile_costs_are_skipped_with_a_count_never_alerted(bad):
    frame = traffic()
    late = frame["wall_time"] >= T0 + 4 * 3600 - 600
    frame.loc[late, "cost_amount"] = bad
    det = CostDetector(CostAlertsConfig(), FrameSourceStandIn(frame))
    assert det.evaluate(T0 + 4 * 3600) == []
    counted = det.counts["unknown_cost"] if np.isnan(bad) else det.counts["invalid"]
    assert counted == int(late.sum())


def test_an_empty_store_is_not_enough_data():
    det = CostDetector(CostAlertsConfig(), FrameSourceStandIn(traffic().iloc[:0]))
    assert det.evaluate(T0) == [] and det.result == "not_enough_data"


def test_reads_are_bounded_and_later_evaluations_read_only_the_recent_records():
    cfg = CostAlertsConfig()
    source = FrameSourceStandIn(traffic())
    det = CostDetector(cfg, source)
    now = T0 + 4 * 3600
    det.evaluate(now)
    assert min(s for s, _ in source.reads) >= now - cfg.history_s() - cfg.interval_s
    assert max(e - s for s, e in source.reads) <= cfg.read_chunk_s
    source.reads.clear()
    det.evaluate(now + 60)
    assert source.reads[0][0] >= now - cfg.settle_s - cfg.interval_s


def test_a_failing_source_keeps_the_previous_alerts():
    source = FrameSourceStandIn(traffic(spike_tenant="beta"))
    det = CostDetector(CostAlertsConfig(), source)
    before = det.evaluate(T0 + 4 * 3600)
    source.fail = True
    assert det.evaluate(T0 + 4 * 3600 + 60) == before and before
    assert det.result == "error"


def test_segments_are_capped():
    cfg = CostAlertsConfig(max_segments=1)
    det = CostDetector(cfg, FrameSourceStandIn(traffic()))
    det.evaluate(T0 + 4 * 3600)
    segments = {seg for _, seg in det.verdicts}
    assert len([s for s in segments if s.startswith("tenant=")]) == 1
    assert det.counts["segments_skipped"] == 2 + 1


def test_budget_alerts_and_gauges_come_with_the_anomalies():
    cfg = CostAlertsConfig(budgets=[{"tenant": "acme", "period": "day", "amount": 10.0}])
    det = CostDetector(cfg, FrameSourceStandIn(traffic()))
    alerts = det.evaluate(T0 + 4 * 3600)  # acme spent about 96
    names = sorted(a.labels["alertname"] for a in alerts if "threshold" in a.labels)
    assert names == ["InferwatchBudgetExhausted"] + ["InferwatchBudgetThreshold"] * 3
    gauges = {f.name: f.samples for f in det.families()}
    assert gauges["inferwatch_budget_used_ratio"][0].value > 1
    assert gauges["inferwatch_budget_exhaustion_forecast_seconds"][0].value == 0


def test_idle_share_between_two_evaluations():
    idle = iter([10.0, 10.0 + 36.0])
    det = CostDetector(
        CostAlertsConfig(), FrameSourceStandIn(traffic()), idle_cost=lambda: next(idle)
    )
    det.evaluate(T0 + 3 * 3600)
    assert det.idle_share is None
    det.evaluate(T0 + 4 * 3600)  # an hour of requests: about 72 spent
    assert det.idle_share == pytest.approx(36 / (36 + 72), rel=0.05)
