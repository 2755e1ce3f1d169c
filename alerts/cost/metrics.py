"""The catalogue's cost-anomaly and budget gauges, built from a detector's last evaluation.

Names, help texts and label names come from agent/catalogue.yaml, so they cannot disagree.
"""

from __future__ import annotations

import functools
import math

from prometheus_client.core import GaugeMetricFamily

from agent.catalogue import load_catalogue
from alerts.cost.anomaly import ANOMALY, Verdict
from alerts.cost.budgets import BudgetState

SCORE = "inferwatch_cost_anomaly_score"
EXPECTED = "inferwatch_cost_anomaly_expected"
FLAG = "inferwatch_cost_anomaly"
USED = "inferwatch_budget_used_ratio"
FORECAST = "inferwatch_budget_exhaustion_forecast_seconds"


@functools.cache
def _specs() -> dict:
    return load_catalogue()


def _gauge(name: str) -> GaugeMetricFamily:
    spec = _specs()[name]
    return GaugeMetricFamily(name, spec.help, labels=list(spec.labels))


def families(verdicts: dict[tuple[str, str], Verdict], budgets: list[BudgetState]) -> list:
    """The anomaly gauges by series and segment (absent while a series has not enough
    data) and the budget gauges by tenant and period (the forecast absent when the budget
    will not be used up within the period)."""
    score, expected, flag = _gauge(SCORE), _gauge(EXPECTED), _gauge(FLAG)
    for (series, segment), v in sorted(verdicts.items()):
        if math.isfinite(v.score):
            score.add_metric([series, segment], v.score)
            expected.add_metric([series, segment], v.expected)
            flag.add_metric([series, segment], 1.0 if v.status == ANOMALY else 0.0)
    used, eta = _gauge(USED), _gauge(FORECAST)
    for s in budgets:
        key = [s.budget.tenant, s.budget.period]
        used.add_metric(key, s.ratio)
        if s.forecast_s is not None:
            eta.add_metric(key, s.forecast_s)
    return [score, expected, flag, used, eta]
