"""The Requests page's body: latency, time to first token, time per output token, tokens
in and out, statuses and finish reasons over time, and a filterable table of requests."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views import request_table

TIMINGS = (
    ("latency", "Latency"),
    ("ttft", "Time to first token"),
    ("tpot", "Time per output token (streams)"),
)
ORDERS = {"newest": "Newest first", "cost": "Most expensive first", "latency": "Slowest first"}


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    series = frame.query(ctx, "timeseries", ctx.filters, ctx.step_s)
    if series is None:
        return
    if series.empty:
        frame.no_data("requests")
        return
    grid = st.columns(2)
    for n, (metric, title) in enumerate(TIMINGS):
        with grid[n % 2]:
            timing(ctx, metric, title)
    with grid[1]:
        tokens(ctx, series)
    for column, by in zip(st.columns(2), ("status", "finish_reason"), strict=True):
        with column:
            counts(ctx, by)
    table(ctx)


def timing(ctx: PageContext, metric: str, title: str) -> None:
    """p50, p95 and p99 of a per-request timing per time bucket."""
    st.subheader(title)
    qs = frame.query(ctx, "quantiles", ctx.filters, metric, (0.5, 0.95, 0.99), ctx.step_s)
    if qs is None:
        return
    if qs.empty:
        frame.no_data(title.lower())
        return
    shown = qs.assign(quantile=qs["q"].map(lambda q: f"p{round(q * 100)}"))
    fig = px.line(shown.assign(time=fmt.times(shown["t"])), x="time", y="value", color="quantile")
    st.plotly_chart(fmt.figure(fig, "seconds"), key=f"timing_{metric}")
    frame.csv_button(shown[["t", "quantile", "value"]], f"requests_{metric}")


def tokens(ctx: PageContext, series) -> None:
    """Input and output tokens per time bucket."""
    st.subheader("Tokens")
    shown = series[["t", "input_tokens", "output_tokens"]]
    long = shown.melt(id_vars="t", var_name="tokens", value_name="count")
    fig = px.line(long.assign(time=fmt.times(long["t"])), x="time", y="count", color="tokens")
    st.plotly_chart(fmt.figure(fig, f"tokens per {fmt.span(ctx.step_s)}"), key="tokens")
    frame.csv_button(shown, "requests_tokens")


def counts(ctx: PageContext, by: str) -> None:
    """Requests per time bucket, stacked by `by` ("status" or "finish_reason")."""
    title = by.replace("_", " ")
    st.subheader(f"Requests by {title}")
    series = frame.query(ctx, "timeseries", ctx.filters, ctx.step_s, by)
    if series is None:
        return
    shown = series[["t", "key", "requests"]].rename(columns={"key": by})
    shown[by] = shown[by].replace("", "(none)")  # errors end with no finish reason
    fig = px.bar(shown.assign(time=fmt.times(shown["t"])), x="time", y="requests", color=by)
    st.plotly_chart(fmt.figure(fig, f"requests per {fmt.span(ctx.step_s)}"), key=f"count_{by}")
    frame.csv_button(shown, f"requests_by_{by}")


def table(ctx: PageContext) -> None:
    """Single requests of the range, filtered by status, in the order picked."""
    st.subheader("Requests")
    statuses = frame.query(ctx, "values", "status", ctx.filters) or []
    left, right = st.columns([2, 1])
    picked = left.multiselect("Status", statuses, key="requests_status", placeholder="All")
    order = right.selectbox(
        "Order", list(ORDERS), format_func=ORDERS.__getitem__, key="requests_order"
    )
    limit = ctx.app.settings.dashboard.table_rows
    rows = frame.query(ctx, "requests", ctx.filters, tuple(picked), order, limit)
    if rows is None:
        return
    if rows.empty:
        frame.no_data("requests with these statuses")
        return
    st.caption(f"{fmt.count(len(rows))} requests shown (at most {fmt.count(limit)}).")
    request_table.show(rows, "requests_table", ctx.app.settings.cost.currency)
