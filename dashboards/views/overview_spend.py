"""The Overview's spend panels: spend today and this month (UTC) with a forecast to the
period's end, the configured budgets' use, and cost per 1M tokens."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboards.data.api import Filters
from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views import cost_calc

PERIODS = (
    ("day", "Spend today (UTC)", "24:00 UTC"),
    ("month", "Spend this month (UTC)", "month end"),
)
ADJECTIVE = {"day": "daily", "month": "monthly"}
TENANT_ROWS = 8  # budgets listed one by one up to this many; past it, only their sums


def spend(ctx: PageContext) -> None:
    """Spend today and this month, their forecasts, and the budgets of each period."""
    st.subheader("Spend and budgets")
    tables = []
    for column, (period, label, end_name) in zip(st.columns(2), PERIODS, strict=True):
        with column:
            _period_spend(ctx, period, label, end_name)
            tables.append(_budgets(ctx, period))
    table = pd.concat([t for t in tables if t is not None and len(t)] or [pd.DataFrame()])
    if len(table):
        frame.csv_button(table, "overview_budgets", "Download budgets CSV")


def _period_spend(ctx: PageContext, period: str, label: str, end_name: str) -> None:
    cur = ctx.app.settings.cost.currency
    start, end = cost_calc.period_bounds(ctx.now, period)
    f = since(start, ctx.now, ctx.filters.models, ctx.filters.tenants)
    totals = frame.query(ctx, "totals", f)
    spent = float(totals["cost"].sum()) if totals is not None else 0.0
    rate = rates(ctx, ctx.filters.models, ctx.filters.tenants, by=None).get("", 0.0)
    ahead = cost_calc.projected(spent, rate, ctx.now, end)
    st.metric(label, fmt.money(spent, cur))
    st.caption(f"Forecast to {end_name}: {fmt.money(ahead, cur)} · {_rate_note(ctx)}")


def _budgets(ctx: PageContext, period: str) -> pd.DataFrame | None:
    table = budgets_now(ctx, period)
    if table is None:
        st.caption(f"No {ADJECTIVE[period]} budgets configured (alerts.cost.budgets).")
    else:
        _budget_lines(ctx, table, period)
    return table


def period_budgets(ctx: PageContext, period: str) -> list:
    """The configured budgets of `period` ("day" or "month"), of the picked tenants."""
    picked = set(ctx.filters.tenants)
    every = ctx.app.settings.alerts.cost.budgets
    return [b for b in every if b.period == period and (not picked or b.tenant in picked)]


def budgets_now(ctx: PageContext, period: str) -> pd.DataFrame | None:
    """`cost_calc.budget_table` of the period's budgets at `ctx.now` (spend of every
    model: a budget is the tenant's); None without budgets."""
    budgets = period_budgets(ctx, period)
    if not budgets:
        return None
    tenants = tuple(sorted({b.tenant for b in budgets}))
    start, _ = cost_calc.period_bounds(ctx.now, period)
    totals = frame.query(ctx, "totals", since(start, ctx.now, (), tenants), "tenant")
    spent = dict(zip(totals["key"], totals["cost"], strict=True)) if totals is not None else {}
    return cost_calc.budget_table(budgets, spent, rates(ctx, (), tenants, "tenant"), ctx.now)


def _budget_lines(ctx: PageContext, table: pd.DataFrame, period: str) -> None:
    cur = ctx.app.settings.cost.currency
    amount, spent, ahead = table["budget"].sum(), table["spent"].sum(), table["forecast"].sum()
    st.metric(
        f"{ADJECTIVE[period].capitalize()} budgets used ({len(table)})",
        fmt.share(spent / amount),
        help="Spend of the budgeted tenants, every model, over the sum of their budgets.",
    )
    st.caption(
        f"{fmt.money(spent, cur)} of {fmt.money(amount, cur)}; "
        f"forecast {fmt.money(ahead, cur)} ({fmt.share(ahead / amount)})"
    )
    if len(table) <= TENANT_ROWS:
        st.dataframe(budget_shown(table, cur), hide_index=True, key=f"budgets_{period}")


def budget_shown(table: pd.DataFrame, currency: str) -> pd.DataFrame:
    """A `cost_calc.budget_table` as a page shows it (money and shares as text)."""
    return pd.DataFrame(
        {
            "tenant": table["tenant"],
            "period": table["period"],
            "budget": table["budget"].map(lambda v: fmt.money(v, currency)),
            "spent": table["spent"].map(lambda v: fmt.money(v, currency)),
            "used": table["used"].map(fmt.share),
            "forecast at period end": table["forecast_used"].map(fmt.share),
        }
    )


def rates(ctx: PageContext, models: tuple, tenants: tuple, by: str | None) -> dict[str, float]:
    """Recent spend rate per second (per `by` value, or under ""), as the budget alerts
    forecast: over `alerts.cost.forecast_window_s`, the median of its parts' rates."""
    cfg = ctx.app.settings.alerts.cost
    end = math.floor(ctx.now / 60) * 60  # whole minutes only: the running one is partial
    start = end - max(60.0, cfg.forecast_window_s)
    series = frame.query(ctx, "timeseries", Filters(start, end, models, tenants), 60, by)
    if series is None:
        return {}
    return cost_calc.rates(series, start, end, cfg.forecast_buckets)


def _rate_note(ctx: PageContext) -> str:
    cfg = ctx.app.settings.alerts.cost
    window = fmt.span(max(60.0, cfg.forecast_window_s))
    return f"at the spend rate of the last {window} (median of {cfg.forecast_buckets} parts)"


def since(start: float, now: float, models: tuple, tenants: tuple) -> Filters:
    """Filters from a period's start to now."""
    # Just after midnight the period may be shorter than the store's one minute.
    return Filters(start, max(now, start + 60), models, tenants)


def per_million(ctx: PageContext, totals: pd.DataFrame) -> pd.DataFrame:
    """Cost per 1M tokens (all, input, output) over the range; returns what it shows."""
    cur, w = ctx.app.settings.cost.currency, ctx.app.settings.cost.weights
    cost, tin, tout = (float(totals[c].sum()) for c in ("cost", "input_tokens", "output_tokens"))
    got = cost_calc.per_million(cost, tin, tout, w.prefill, w.decode)
    shown = (("all tokens", got.total), ("input tokens", got.input), ("output tokens", got.output))
    for column, (name, value) in zip(st.columns(3), shown, strict=True):
        column.metric(f"Cost per 1M {name}", fmt.money(value, cur))
    st.caption(
        "Measured cost over the range's tokens. Input and output: the cost split in "
        f"proportion to their work as the cost engine weighs it (prefill {w.prefill:g} x "
        f"input tokens, decode {w.decode:g} x output tokens)."
    )
    return pd.DataFrame(
        {"metric": [f"cost per 1M {n}" for n, _ in shown], "value": [v for _, v in shown]}
    )
