"""The Overview page's body: what the service cost today and this month against budgets,
cost per 1M tokens, traffic and latency against the previous range, what is firing."""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
import streamlit as st

from dashboards.data.api import DataUnavailable, Filters
from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views import cost_calc, overview_alerts, overview_spend

QUANTILES = (("latency", "latency"), ("ttft", "time to first token"))


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    overview_spend.spend(ctx)
    st.subheader("Traffic in this range")
    totals = frame.query(ctx, "totals", ctx.filters)
    if totals is None:
        return
    if totals.empty:
        frame.no_data("requests")
    else:
        shown = [overview_spend.per_million(ctx, totals), _traffic(ctx, totals)]
        frame.csv_button(pd.concat(shown, ignore_index=True), "overview_range")
    firing_now(ctx)


def _previous(f: Filters) -> Filters:
    return Filters(f.start - f.span_s, f.start, f.models, f.tenants)


def _traffic(ctx: PageContext, totals: pd.DataFrame) -> pd.DataFrame:
    """Requests, error rate and latency quantiles, each with its change from the previous
    range of the same length; returns what it shows (value and previous)."""
    before = _previous(ctx.filters)
    prev = frame.query(ctx, "totals", before)
    rows = [_counts(totals, prev)]
    for metric, name in QUANTILES:
        rows.append(_quantiles(ctx, metric, name, before))
    table = pd.DataFrame(
        [r for part in rows for r in part], columns=["metric", "value", "previous"]
    )
    columns = st.columns(len(table))
    for column, (name, value, previous) in zip(columns, table.itertuples(index=False), strict=True):
        column.metric(
            name, _text(name, value), _delta(name, value, previous), delta_color=_color(name)
        )
    st.caption(f"Changes against the previous {fmt.span(ctx.filters.span_s)}.")
    return table


def _counts(totals: pd.DataFrame, prev: pd.DataFrame | None) -> list[tuple]:
    n, errors = int(totals["requests"].sum()), int(totals["errors"].sum())
    if prev is None:
        return [("Requests", n, None), ("Error rate", errors / n, None)]
    p_n = int(prev["requests"].sum())
    p_err = int(prev["errors"].sum()) / p_n if p_n else None
    return [("Requests", n, p_n), ("Error rate", errors / n, p_err)]


def _quantiles(ctx: PageContext, metric: str, name: str, before: Filters) -> list[tuple]:
    now = frame.query(ctx, "quantiles", ctx.filters, metric, (0.5, 0.95))
    then = frame.query(ctx, "quantiles", before, metric, (0.5, 0.95))
    out = []
    for q in (0.5, 0.95):
        out.append((f"p{round(q * 100)} {name}", _at(now, q), _at(then, q)))
    return out


def _at(quantiles: pd.DataFrame | None, q: float) -> float | None:
    if quantiles is None or quantiles.empty:
        return None
    hit = quantiles.loc[(quantiles["q"] - q).abs() < 1e-9, "value"]
    return float(hit.iloc[0]) if len(hit) else None


def _text(name: str, value: float | None) -> str:
    if name == "Requests":
        return fmt.count(value)
    return fmt.share(value, 2) if name == "Error rate" else fmt.duration(value)


def _delta(name: str, value: float | None, previous: float | None) -> str | None:
    if name == "Error rate":  # a rate's change is in points, not a share of a share
        # No requests in the previous period: its error rate is 0/0, not a number.
        if value is None or previous is None or not math.isfinite(value - previous):
            return None
        return f"{(value - previous) * 100:+.2f} pts"
    rel = cost_calc.change(value, previous)
    return None if rel is None else f"{rel * 100:+.1f}%"


def _color(name: str) -> Literal["normal", "inverse"]:
    return "normal" if name == "Requests" else "inverse"  # more errors or latency is bad


def firing_now(ctx: PageContext) -> None:
    """The alerts firing now, from alerts.db (or why there are none to show)."""
    st.subheader("Firing now")
    try:
        alerts = overview_alerts.firing(ctx.app.alerts_db, ctx.now)
    except DataUnavailable as err:
        st.error(str(err))
        return
    if alerts is None:
        st.info("Alerts are off: no alerts.db beside the store.")
    elif alerts.empty:
        st.success("Nothing is firing.")
    else:
        shown = alerts.assign(since=alerts["since"].map(fmt.when))
        st.dataframe(shown, hide_index=True, key="firing")
        frame.csv_button(shown, "overview_firing")
