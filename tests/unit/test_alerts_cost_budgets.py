"""Budgets: thresholds that fire once per UTC period, a fresh next period, the forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alerts.cost.budgets import EXHAUSTED, THRESHOLD, BudgetTracker, alerts, period_bounds
from alerts.cost.config import BudgetConfig
from alerts.cost.series import aggregate

pytestmark = pytest.mark.unit

DAY = 1704067200.0  # 2024-01-01 00:00 UTC
BUDGET = BudgetConfig(tenant="acme", period="day", amount=100.0)


def spend(per_minute: float, minutes: int, start: float = DAY, tenant: str = "acme"):
    t = start + 60.0 * np.arange(minutes) + 1.0
    frame = pd.DataFrame(
        {
            "wall_time": t,
            "tenant": tenant,
            "model": "m",
            "cost_amount": per_minute,
            "completion_tokens": 1.0,
        }
    )
    return aggregate(frame, 60.0)


def fired(tracker, agg, now):
    return sorted(
        (a.labels["alertname"], a.labels["threshold"])
        for s in tracker.update(agg, now)
        for a in alerts(s, "USD")
    )


def test_period_bounds_are_utc_days_and_months():
    assert period_bounds(DAY + 5, "day") == (DAY, DAY + 86400)
    feb = 1706745600.0  # 2024-02-01
    assert period_bounds(feb - 1, "month") == (DAY, feb)
    dec = 1733011200.0  # 2024-12-01
    assert period_bounds(dec + 10, "month")[1] == 1735689600.0  # 2025-01-01


def test_each_threshold_fires_from_its_crossing_until_the_period_ends():
    tracker = BudgetTracker([BUDGET], 60.0, 3600.0, 6)
    agg = spend(1.0, 90)  # 90 by 01:30
    now = DAY + 90 * 60
    assert fired(tracker, agg, now) == [(THRESHOLD, "0.5"), (THRESHOLD, "0.8")]
    state = tracker.update(agg, now)[0]
    half = next(a for a in alerts(state, "USD") if a.labels["threshold"] == "0.5")
    assert half.starts_at == DAY + 50 * 60  # the end of the minute that reached 50
    assert half.ends_at == DAY + 86400
    assert half.labels["period_start"] == "2024-01-01" and half.labels["tenant"] == "acme"
    agg = spend(1.0, 120)
    got = fired(tracker, agg, DAY + 120 * 60)
    assert got == [(EXHAUSTED, "1"), (THRESHOLD, "0.5"), (THRESHOLD, "0.8"), (THRESHOLD, "0.95")]


def test_the_exhausted_alert_is_critical():
    tracker = BudgetTracker([BUDGET], 60.0, 3600.0, 6)
    state = tracker.update(spend(2.0, 60), DAY + 3600)[0]
    exhausted = [a for a in alerts(state, "USD") if a.labels["alertname"] == EXHAUSTED]
    assert [a.labels["severity"] for a in exhausted] == ["critical"]


def test_a_crossing_stays_latched_in_the_period_and_the_next_period_starts_fresh():
    tracker = BudgetTracker([BUDGET], 60.0, 3600.0, 6)
    assert (THRESHOLD, "0.5") in fired(tracker, spend(1.0, 60), DAY + 3600)
    lowered = spend(0.1, 60)  # a correction: same period, lower spend
    assert (THRESHOLD, "0.5") in fired(tracker, lowered, DAY + 3600 + 60)
    next_day = DAY + 86400
    assert fired(tracker, spend(0.1, 60, start=next_day), next_day + 3600) == []


def test_forecast_on_a_constant_rate():
    tracker = BudgetTracker([BUDGET], 60.0, 3600.0, 6)
    state = tracker.update(spend(0.5, 120), DAY + 120 * 60)[0]  # 60 spent, 0.5 a minute
    assert state.forecast_s == pytest.approx(40 / 0.5 * 60)
    text = alerts(state, "USD")[0].annotations["description"]
    assert "used up in 1.3 hours" in text


def test_no_forecast_when_the_budget_outlasts_the_period():
    tracker = BudgetTracker([BUDGET], 60.0, 3600.0, 6)
    state = tracker.update(spend(0.01, 120), DAY + 120 * 60)[0]
    assert state.forecast_s is None


def test_a_tenant_without_a_budget_is_ignored():
    tracker = BudgetTracker([BUDGET], 60.0, 3600.0, 6)
    states = tracker.update(spend(50.0, 60, tenant="other"), DAY + 3600)
    assert [(s.budget.tenant, s.spent) for s in states] == [("acme", 0.0)]
    assert fired(tracker, spend(50.0, 60, tenant="other"), DAY + 3600) == []


def test_bad_budget_configs_are_refused():
    with pytest.raises(ValueError):
        BudgetConfig(tenant="a", amount=-1)
    with pytest.raises(ValueError):
        BudgetConfig(tenant="a", amount=1, thresholds=[1.5])
    with pytest.raises(ValueError):
        BudgetConfig(tenant="a", amount=float("inf"))
