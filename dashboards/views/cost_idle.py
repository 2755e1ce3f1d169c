"""The Cost page's idle-cost panel: what the machine cost while no request used it, and
how busy the devices were, from the agent's metric series (the store's snapshots, or
Prometheus). The request log cannot say this: it holds only what requests cost."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data.api import DataUnavailable
from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext

IDLE = "inferwatch_cost_idle_total"
METERED = "inferwatch_cost_metered_total"
UTILISATION = "inferwatch_cost_device_utilization_ratio"


def spend(rates: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """Per step: metered, idle and attributed (metered - idle) cost, from per-second
    rates of the two counters (summed over device types)."""
    money = rates[rates["name"].isin((IDLE, METERED))].assign(cost=lambda d: d["value"] * step_s)
    wide = money.pivot_table(index="t", columns="name", values="cost", aggfunc="sum")
    wide = wide.reindex(columns=[METERED, IDLE], fill_value=0.0).fillna(0.0)
    out = pd.DataFrame({"t": wide.index, "metered": wide[METERED], "idle": wide[IDLE]})
    return out.assign(attributed=(out["metered"] - out["idle"]).clip(lower=0)).reset_index(
        drop=True
    )


def render(ctx: PageContext) -> None:
    """Draw the panel: totals, idle vs attributed over time, utilisation per device."""
    st.subheader("Idle cost and device utilisation")
    if ctx.series is None:
        st.info("Idle cost needs the agent's metric snapshots (its store) or --prometheus.")
        return
    f = ctx.filters
    try:
        rows = ctx.series.series((IDLE, METERED, UTILISATION), f.start, f.end, ctx.step_s)
    except DataUnavailable as err:
        st.info(f"Idle cost is not available: {err}")
        return
    if rows.empty:
        frame.no_data("metric snapshots")
        return
    _draw(ctx, spend(rows, ctx.step_s), rows[rows["name"] == UTILISATION])


def _draw(ctx: PageContext, cost: pd.DataFrame, util: pd.DataFrame) -> None:
    currency = ctx.app.settings.cost.currency
    metered, idle = cost["metered"].sum(), cost["idle"].sum()
    left, right = st.columns(2)
    left.metric("Idle cost in range", fmt.money(idle, currency))
    right.metric("Idle share of the machine's cost", fmt.share(idle / metered if metered else None))
    long = cost.melt(id_vars="t", value_vars=["attributed", "idle"], var_name="part")
    long = long.assign(time=fmt.times(long["t"]))
    fig = px.area(long, x="time", y="value", color="part")
    st.plotly_chart(fmt.figure(fig, f"cost per step ({currency})"), key="idle_cost")
    frame.csv_button(cost, "idle_cost")
    if not util.empty:
        util = util.assign(time=fmt.times(util["t"]), percent=util["value"] * 100)
        fig = px.line(util, x="time", y="percent", color="labels")
        st.plotly_chart(fmt.figure(fig, "device utilisation (%)"), key="utilisation")
        frame.csv_button(util.drop(columns="time"), "device_utilisation")
