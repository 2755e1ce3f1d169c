"""The arithmetic of the cost panels, apart from Streamlit so it can be tested alone:
spend forecasts, budget use and burn-down, cost per 1M tokens, the hosted-API comparison.

Inputs are the aggregated frames of `dashboards.data.api.RequestData` (`totals`,
`timeseries`), never raw rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from agent.cost.config import HostedPrice
from alerts.cost.budgets import period_bounds, spend_rate
from alerts.cost.config import BudgetConfig

MINUTE = 60

__all__ = ["period_bounds"]  # re-exported: the budget alerts' own UTC day and month


def rates(series: pd.DataFrame, start: float, end: float, buckets: int) -> dict[str, float]:
    """Spend rate per second per `key` (or under "" without one) over the whole minutes
    in [start, end), from a per-minute `timeseries`: the median of `buckets` equal parts'
    rates, the same robust rate the budget alerts forecast with (minutes with no request
    count as zero spend)."""
    minutes = pd.RangeIndex(math.floor(start / MINUTE), math.floor(end / MINUTE))
    if series.empty or len(minutes) == 0:
        return {}
    frame = series.assign(minute=(series["t"] // MINUTE).astype(int))
    keyed = frame["key"] if "key" in frame else pd.Series("", index=frame.index)
    out = {}
    for key, part in frame.groupby(keyed):
        spend = part.groupby("minute")["cost"].sum().reindex(minutes, fill_value=0.0)
        out[str(key)] = spend_rate(spend, MINUTE, buckets)
    return out


def projected(spent: float, rate_per_s: float, now: float, end: float) -> float:
    """Spend at `end` if the rate holds from `now`: spend so far + rate x time left."""
    return spent + rate_per_s * max(0.0, end - now)


def budget_table(
    budgets: Iterable[BudgetConfig],
    spent: Mapping[str, float],
    rate: Mapping[str, float],
    now: float,
) -> pd.DataFrame:
    """One row per budget: tenant, period, budget, spent (in its current period), used
    (share), forecast (spend at the period's end at the recent rate) and its share."""
    rows = []
    for b in budgets:
        end = period_bounds(now, b.period)[1]
        s = float(spent.get(b.tenant, 0.0))
        f = projected(s, float(rate.get(b.tenant, 0.0)), now, end)
        rows.append((b.tenant, b.period, b.amount, s, s / b.amount, f, f / b.amount))
    cols = ["tenant", "period", "budget", "spent", "used", "forecast", "forecast_used"]
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class PerMillion:
    """Cost per 1M tokens: all tokens together, and input and output apart."""

    total: float | None
    input: float | None
    output: float | None


def per_million(
    cost: float, input_tokens: float, output_tokens: float, prefill: float, decode: float
) -> PerMillion:
    """Cost per 1M tokens over a range's totals. Input and output: the cost is split in
    proportion to their work as the cost engine weighs it (`cost.weights`: prefill x input
    tokens, decode x output tokens), then divided by each one's tokens. None where there
    are no tokens to divide by."""
    tokens = input_tokens + output_tokens
    work_in, work_out = prefill * input_tokens, decode * output_tokens
    work = work_in + work_out
    total = cost / tokens * 1e6 if tokens > 0 else None
    if work <= 0:
        return PerMillion(total, None, None)
    cost_in, cost_out = cost * work_in / work, cost * work_out / work
    return PerMillion(
        total,
        cost_in / input_tokens * 1e6 if input_tokens > 0 else None,
        cost_out / output_tokens * 1e6 if output_tokens > 0 else None,
    )


def hosted_comparison(by_model: pd.DataFrame, prices: Mapping[str, HostedPrice]) -> pd.DataFrame:
    """Per model with a list price: its tokens, the measured cost, what a hosted API would
    have charged for the same tokens at list price, and measured / hosted."""
    cols = ["model", "input_tokens", "output_tokens", "measured", "hosted", "ratio"]
    rows = []
    columns = (by_model[c].tolist() for c in ("key", "input_tokens", "output_tokens", "cost"))
    for key, inp, out, cost in zip(*columns, strict=True):
        price = prices.get(key)
        if price is None:
            continue
        hosted = (inp * price.input_per_1m + out * price.output_per_1m) / 1e6
        ratio = cost / hosted if hosted > 0 else math.nan
        rows.append((key, int(inp), int(out), cost, hosted, ratio))
    return pd.DataFrame(rows, columns=cols)


def burn_down(
    series: pd.DataFrame, tenants: Iterable[str], start: float, step_s: int, now: float
) -> pd.DataFrame:
    """Cumulative spend per tenant since `start` (columns `t`, `tenant`, `spent`), from a
    `timeseries(by="tenant", step_s=step_s)`: each tenant starts at 0 at `start`, a
    bucket's spend is counted at its end (or `now`, for the bucket still running), and a
    tenant with no spend stays a flat line at 0 up to `now`."""
    parts = []
    for tenant in tenants:
        own = series[series["key"] == tenant] if len(series) else series
        ends = (own["t"] + step_s).clip(upper=now).tolist() if len(own) else [now]
        spent = own["cost"].cumsum().tolist() if len(own) else [0.0]
        t = [start, *ends]
        parts.append(pd.DataFrame({"t": t, "tenant": tenant, "spent": [0.0, *spent]}))
    if not parts:
        return pd.DataFrame(columns=["t", "tenant", "spent"])
    return pd.concat(parts, ignore_index=True)


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change from `previous` to `current` (None when either is unknown or the
    previous is zero: a change from nothing has no size)."""
    if current is None or previous is None or previous == 0:
        return None
    if not (math.isfinite(current) and math.isfinite(previous)):
        return None
    return (current - previous) / previous
