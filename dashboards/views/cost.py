"""The Cost page's body: spend over time by model and tenant, idle cost and device
utilisation, cost per request, hosted-API list prices, budget burn-down, and the most
expensive requests (each opening its own record)."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views import cost_budget, cost_idle, request_table

TOP_REQUESTS = 20


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    totals = frame.query(ctx, "totals", ctx.filters)
    if totals is None:
        return
    if totals.empty:
        frame.no_data("requests")
        return
    cur = ctx.app.settings.cost.currency
    left, right = st.columns(2)
    left.metric("Spend in this range", fmt.money(float(totals["cost"].sum()), cur))
    right.metric("Requests with a known cost", fmt.count(int(totals["costed"].sum())))
    for column, by in zip(st.columns(2), ("model", "tenant"), strict=True):
        with column:
            spend_over_time(ctx, by)
    idle_panel(ctx)
    per_request(ctx)
    cost_budget.hosted(ctx)
    cost_budget.burn_down(ctx)
    most_expensive(ctx)


def spend_over_time(ctx: PageContext, by: str) -> None:
    """Spend per time bucket, stacked by `by` ("model" or "tenant")."""
    st.subheader(f"Spend by {by}")
    series = frame.query(ctx, "timeseries", ctx.filters, ctx.step_s, by)
    if series is None:
        return
    shown = series[["t", "key", "cost"]].rename(columns={"key": by})
    fig = px.area(shown.assign(time=fmt.times(shown["t"])), x="time", y="cost", color=by)
    cur = ctx.app.settings.cost.currency
    st.plotly_chart(fmt.figure(fig, f"{cur} per {fmt.span(ctx.step_s)}"), key=f"spend_{by}")
    frame.csv_button(shown, f"cost_by_{by}")


def idle_panel(ctx: PageContext) -> None:
    """Idle cost and device utilisation (from the metric series: see `cost_idle`)."""
    cost_idle.render(ctx)


def per_request(ctx: PageContext) -> None:
    """How the cost of one request is distributed (log bins, log x axis)."""
    st.subheader("Cost per request")
    bins = frame.query(ctx, "histogram", ctx.filters, "cost")
    if bins is None:
        return
    if bins.empty:
        frame.no_data("requests with a known cost")
        return
    # A step outline over the bins' edges: bars have no clean width on a log axis.
    x = [*bins["low"], bins["high"].iloc[-1]]
    y = [*bins["count"], 0]
    fig = go.Figure(go.Scatter(x=x, y=y, line_shape="hv", fill="tozeroy", name="requests"))
    fig.update_xaxes(type="log", title=f"cost per request ({ctx.app.settings.cost.currency})")
    st.plotly_chart(fmt.figure(fig, "requests"), key="cost_histogram")
    frame.csv_button(bins, "cost_per_request")


def most_expensive(ctx: PageContext) -> None:
    """The most expensive requests of the range, each linked to its record."""
    st.subheader("Most expensive requests")
    top = frame.query(ctx, "requests", ctx.filters, (), "cost", TOP_REQUESTS)
    if top is None:
        return
    request_table.show(top, "cost_top_requests", ctx.app.settings.cost.currency)
