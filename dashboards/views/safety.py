"""The Safety page: safety-filter hits over time, stacked by filter, direction, action or
tenant, and their totals (every number a `RequestData.safety` aggregate)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views.alerts_common import table, utc

DIMENSIONS = {"filter": "Filter", "direction": "Direction", "action": "Action", "tenant": "Tenant"}


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    hits = frame.query(ctx, "safety", ctx.filters, ctx.step_s)
    if hits is None:
        return
    if hits.empty or hits["hits"].sum() == 0:
        frame.no_data("safety-filter hits")
        return
    st.metric("Safety-filter hits", f"{int(hits['hits'].sum()):,}")
    by = st.radio("Stack by", list(DIMENSIONS), format_func=DIMENSIONS.get, horizontal=True)
    _over_time(hits, by, ctx.step_s)
    columns = st.columns(len(DIMENSIONS))
    for column, (dim, title) in zip(columns, DIMENSIONS.items(), strict=True):
        with column:
            st.subheader(f"By {title.lower()}")
            table(totals(hits, dim), f"safety_by_{dim}")


def totals(hits: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Hits per value of `dim` over the range, most first."""
    out = hits.groupby(dim)["hits"].sum().reset_index()
    return out.sort_values(["hits", dim], ascending=[False, True]).reset_index(drop=True)


def _over_time(hits: pd.DataFrame, by: str, step_s: int) -> None:
    series = hits.groupby(["t", by])["hits"].sum().reset_index().sort_values(["t", by])
    shown = utc(series, ["t"]).rename(columns={"t": "time (UTC)"})
    fig = px.bar(shown, x="time (UTC)", y="hits", color=by, barmode="stack")
    # fmt.figure: series may be tenants, which clients name (drawn as text, not HTML).
    fig = fmt.figure(fig, f"hits per {step_s // 60} min")
    fig.update_layout(legend_title_text=DIMENSIONS[by])
    st.plotly_chart(fig, key="safety_over_time")
    frame.csv_button(shown, f"safety_over_time_by_{by}")
