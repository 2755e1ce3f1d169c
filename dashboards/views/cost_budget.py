"""The Cost page's comparisons: the hosted-API list prices for the same tokens, and each
budget's burn-down over its period."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards.data.api import step_for
from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views import cost_calc, overview_spend


def hosted(ctx: PageContext) -> None:
    """Measured cost against what a hosted API would have charged at list price, for the
    models `cost.hosted_prices` names."""
    st.subheader("Against hosted-API list prices")
    prices, cur = ctx.app.settings.cost.hosted_prices, ctx.app.settings.cost.currency
    if not prices:
        st.info("No hosted-API list prices configured (cost.hosted_prices), so no comparison.")
        return
    by_model = frame.query(ctx, "totals", ctx.filters, "model")
    if by_model is None:
        return
    table = cost_calc.hosted_comparison(by_model, prices)
    if table.empty:
        frame.no_data("requests to a model with a list price")
        return
    measured, listed = table["measured"].sum(), table["hosted"].sum()
    left, right = st.columns(2)
    left.metric("Measured cost", fmt.money(measured, cur))
    right.metric("At hosted list prices", fmt.money(listed, cur))
    st.caption(
        f"The same input and output tokens priced per 1M at each model's list price; measured "
        f"is {fmt.share(measured / listed) if listed else '–'} of it."
    )
    fig = px.bar(table, x="model", y=["measured", "hosted"], barmode="group")
    st.plotly_chart(fmt.figure(fig, cur), key="hosted_chart")
    frame.csv_button(table, "cost_hosted")


def burn_down(ctx: PageContext) -> None:
    """Each budget's cumulative spend over its current period, its line, and the forecast
    to the period's end."""
    st.subheader("Budget burn-down")
    cur, shown = ctx.app.settings.cost.currency, []
    for period in ("day", "month"):
        table = overview_spend.budgets_now(ctx, period)
        if table is not None:
            _period_chart(ctx, period, table)
            shown.append(overview_spend.budget_shown(table, cur))
    if not shown:
        st.info("No budgets configured (alerts.cost.budgets).")
        return
    for n, table in enumerate(shown):
        st.dataframe(table, hide_index=True, key=f"burn_table_{n}")


def _period_chart(ctx: PageContext, period: str, table) -> None:
    start, end = cost_calc.period_bounds(ctx.now, period)
    step = step_for(end - start)
    tenants = tuple(sorted(set(table["tenant"])))
    f = overview_spend.since(start, ctx.now, (), tenants)
    series = frame.query(ctx, "timeseries", f, step, "tenant")
    if series is None:
        return
    lines = cost_calc.burn_down(series, tenants, start, step, ctx.now)
    fig = px.line(lines.assign(time=fmt.times(lines["t"])), x="time", y="spent", color="tenant")
    for row in table.itertuples(index=False):
        fig.add_hline(
            y=row.budget, line_dash="dash", annotation_text=f"{fmt.inert(row.tenant)} budget"
        )
        fig.add_trace(_forecast(row, ctx.now, end))
    fig.update_xaxes(range=list(fmt.times([start, end])))
    label = overview_spend.ADJECTIVE[period]
    st.plotly_chart(
        fmt.figure(fig, f"spent ({ctx.app.settings.cost.currency})"), key=f"burn_{period}"
    )
    st.caption(f"{label.capitalize()} budgets: dotted, the forecast at the recent spend rate.")
    frame.csv_button(lines, f"cost_burn_down_{period}")


def _forecast(row, now: float, end: float) -> go.Scatter:
    x = fmt.times([now, end])
    return go.Scatter(
        x=x,
        y=[row.spent, row.forecast],
        mode="lines",
        line_dash="dot",
        name=f"{row.tenant} forecast",
    )
