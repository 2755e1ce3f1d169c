"""Budgets per tenant per UTC day or month: thresholds that alert once per period, and a
forecast of when the budget is used up at the current spend rate.

Spend comes from the interval aggregate (complete intervals since the period's start), so
a restart recomputes the same crossings from the request log. A threshold once crossed
stays firing until its period ends (even if a late correction lowers the spend), with
`ends_at` at the period's end; the next period starts with none.
"""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alerts.cost.config import BudgetConfig
from alerts.model import Alert

THRESHOLD = "InferwatchBudgetThreshold"
EXHAUSTED = "InferwatchBudgetExhausted"
_ADJECTIVE = {"day": "daily", "month": "monthly"}


def period_bounds(now: float, period: str) -> tuple[float, float]:
    """Start and end (epoch seconds) of the UTC day or month holding `now`."""
    tm = time.gmtime(now)
    if period == "day":
        start = calendar.timegm((tm.tm_year, tm.tm_mon, tm.tm_mday, 0, 0, 0))
        return float(start), float(start + 86400)
    year, month = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
    start = calendar.timegm((tm.tm_year, tm.tm_mon, 1, 0, 0, 0))
    return float(start), float(calendar.timegm((year, month, 1, 0, 0, 0)))


@dataclass(slots=True)
class BudgetState:
    """One budget in its current period."""

    budget: BudgetConfig
    start: float
    end: float
    spent: float = 0.0
    forecast_s: float | None = None  # seconds until used up, None when not in this period
    crossed: dict[float, float] = field(default_factory=dict)  # threshold -> when

    @property
    def ratio(self) -> float:
        """Spend over the budget."""
        return self.spent / self.budget.amount


def spend_rate(spend: pd.Series, interval_s: float, buckets: int) -> float:
    """A robust spend rate per second: the median of the rates of `buckets` equal parts of
    `spend` (per-interval amounts), so one burst does not set the forecast."""
    if len(spend) == 0:
        return 0.0
    parts = [p for p in np.array_split(spend.to_numpy(dtype=float), buckets) if len(p)]
    return float(np.median([p.sum() / (len(p) * interval_s) for p in parts]))


def forecast(state: BudgetState, rate: float, now: float) -> float | None:
    """Seconds until the budget is used up at `rate` (0 when it is), None past the period."""
    left = state.budget.amount - state.spent
    if left <= 0:
        return 0.0
    if rate <= 0 or now + left / rate > state.end:
        return None
    return left / rate


def crossings(state: BudgetState, spend: pd.Series, interval_s: float) -> dict[float, float]:
    """When each threshold (and 1.0) was first reached: the end of the interval whose
    spend took the cumulative sum to it. `spend` is per interval since the period start."""
    cum = spend.cumsum().to_numpy(dtype=float)
    idx = spend.index.to_numpy(dtype=np.int64)
    out = {}
    for share in sorted({*state.budget.thresholds, 1.0}):
        hit = np.flatnonzero(cum >= share * state.budget.amount)
        if len(hit):
            out[share] = float((idx[hit[0]] + 1) * interval_s)
    return out


def alerts(state: BudgetState, currency: str) -> list[Alert]:
    """The threshold alerts of a budget that are firing in its period."""
    b, day = state.budget, time.strftime("%Y-%m-%d", time.gmtime(state.start))
    out = []
    for share, at in sorted(state.crossed.items()):
        name, severity = (EXHAUSTED, "critical") if share >= 1.0 else (THRESHOLD, "warning")
        labels = {"alertname": name, "tenant": b.tenant, "period": b.period}
        labels |= {"threshold": f"{share:g}", "period_start": day, "severity": severity}
        text = _describe(state, share, currency)
        out.append(Alert(labels, text, starts_at=at, ends_at=state.end))
    return out


def _describe(state: BudgetState, share: float, currency: str) -> dict[str, str]:
    b = state.budget
    used = f"{state.spent:.2f} of {b.amount:.2f} {currency} ({state.ratio:.0%})"
    if state.forecast_s is None:
        eta = "not used up within this period at the current rate"
    else:
        eta = f"at this rate the budget is used up in {state.forecast_s / 3600:.1f} hours"
    return {
        "summary": f"Tenant {b.tenant} reached {share:.0%} of its {_ADJECTIVE[b.period]} budget",
        "description": f"Spent {used} this {b.period}; {eta}.",
        "spent": f"{state.spent:.6g}",
        "budget": f"{b.amount:.6g}",
        "forecast_hours": "" if state.forecast_s is None else f"{state.forecast_s / 3600:.2f}",
    }


class BudgetTracker:
    """The states of all configured budgets, with crossings latched within a period."""

    def __init__(
        self, budgets: list[BudgetConfig], interval_s: float, window_s: float, buckets: int
    ):
        self._budgets, self._iv = budgets, interval_s
        self._window, self._buckets = window_s, buckets
        self._latched: dict[tuple[str, str, float], dict[float, float]] = {}

    def earliest_start(self, now: float) -> float | None:
        """The earliest period start any budget needs spend from (None without budgets)."""
        starts = [period_bounds(now, b.period)[0] for b in self._budgets]
        return min(starts, default=None)

    def update(self, agg: pd.DataFrame, now: float) -> list[BudgetState]:
        """Each budget's state at `now` from the interval aggregate (tenant spend)."""
        end = math.floor(now / self._iv)
        by_tenant = {t: g.groupby("interval")["cost"].sum() for t, g in agg.groupby("tenant")}
        states = [self._one(b, by_tenant.get(b.tenant), end, now) for b in self._budgets]
        live = {(s.budget.tenant, s.budget.period, s.start) for s in states}
        self._latched = {k: v for k, v in self._latched.items() if k in live}
        return states

    def _one(self, b: BudgetConfig, spend: pd.Series | None, end: int, now: float) -> BudgetState:
        start, stop = period_bounds(now, b.period)
        first = math.ceil(start / self._iv)
        since = min(first, end - math.ceil(self._window / self._iv))
        held = spend if spend is not None else pd.Series(dtype=float)
        spend = held.reindex(pd.RangeIndex(since, end), fill_value=0.0)
        state = BudgetState(b, start, stop, spent=float(spend.loc[first:].sum()))
        latched = self._latched.setdefault((b.tenant, b.period, start), {})
        for share, at in crossings(state, spend.loc[first:], self._iv).items():
            latched.setdefault(share, at)
        state.crossed = dict(latched)
        recent = spend.iloc[-max(1, int(self._window / self._iv)) :]
        state.forecast_s = forecast(state, spend_rate(recent, self._iv, self._buckets), now)
        return state
