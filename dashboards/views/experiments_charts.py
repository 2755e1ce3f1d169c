"""The Experiments page's figures of the arms themselves: the distributions side by side,
a canary's steps (the variant's share over time, rollback and promotion marked, the
gate's last reason), and a shadow's pairs (each primary against its shadow copy)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from agent.store.experiments import PROMOTED, ROLLED_BACK
from dashboards.data import experiments as ex
from dashboards.data.experiments_report import MEASURES
from dashboards.ui import fmt
from dashboards.views.alerts_common import table, utc

MARKS = {ROLLED_BACK: ("rolled back", "x", "#d62728"), PROMOTED: ("promoted", "star", "#2ca02c")}
ARMS = ("#1f77b4", "#ff7f0e")  # control, variant: apart at a glance (the theme's are both blue)
PAIRED = {"latency_s": "latency (s)", "completion_tokens": "completion tokens", "cost": "cost"}


def distributions(hist: pd.DataFrame, currency: str) -> None:
    """Per measure, both arms' histograms overlaid (share of each arm's requests, so arms
    of different sizes compare), on a log axis."""
    if hist.empty:
        st.info("No latency, TTFT or cost known in either arm yet.")
        return
    shown = [m for m in MEASURES if m in set(hist["measure"])]
    for column, measure in zip(st.columns(len(shown)), shown, strict=True):
        part = hist[hist["measure"] == measure].assign(arm=lambda d: d["arm"].map(fmt.inert))
        fig = px.line(
            part, x="low", y="share", color="arm", line_shape="hv", color_discrete_sequence=ARMS
        )
        unit = currency if measure == "cost" else "s"
        fig = fmt.figure(fig, "% of the arm's requests", height=280)
        fig.update_xaxes(type="log", title=f"{MEASURES[measure]} ({unit})")
        fig.update_layout(hovermode="closest")
        with column:
            st.plotly_chart(fig, key=f"experiment_dist_{measure}")
    missing = [MEASURES[m] for m in MEASURES if m not in shown]
    if missing:
        st.caption(f"Not drawn, no arm has any yet: {', '.join(missing)}.")


def canary(events: tuple[dict, ...], until: float) -> None:
    """The variant's share as a step line, rollbacks and promotions marked, the gate's
    last reason and the events' table."""
    steps = ex.shares(events, until)
    if steps.empty:
        st.info("The agent has written no step of this canary yet.")
        return
    _last_reason(events)
    fig = px.line(utc(steps, ["at"]), x="at", y="share", line_shape="hv", markers=True)
    for event, (words, symbol, colour) in MARKS.items():
        hit = utc(steps[steps["event"] == event], ["at"])
        if not hit.empty:
            fig.add_trace(_mark(hit, words, symbol, colour))
    fig = fmt.figure(fig, "variant's share (%)")
    fig.update_yaxes(rangemode="tozero")  # a 1% step stays visible (not on a 0-100 axis)
    st.plotly_chart(fig, key="experiment_canary_steps")
    table(_events_frame(events), "experiment_events")


def _mark(hit: pd.DataFrame, words: str, symbol: str, colour: str) -> go.Scatter:
    return go.Scatter(
        x=hit["at"],
        y=hit["share"],
        mode="markers+text",
        name=words,
        text=[words] * len(hit),
        textposition="top right",
        marker={"symbol": symbol, "size": 14, "color": colour},
    )


def _last_reason(events: tuple[dict, ...]) -> None:
    e = ex.last_reason(events)
    if e is None:
        st.caption("The gate has not looked yet.")
        return
    colour = {ROLLED_BACK: "red", PROMOTED: "green"}.get(e["event"], "blue")
    what = {ROLLED_BACK: "Rolled back", PROMOTED: "Promoted"}.get(e["event"], "Gate")
    step = "" if e["step"] is None else f", step {e['step']}"
    weight = "" if e["weight"] is None else f" at {e['weight']:g}%"
    st.markdown(
        f":{colour}[**{what}**] {fmt.plain(fmt.when(e['at']))}{step}{weight}: "
        f"{fmt.plain(e['detail']['reason'])}"
    )


def _events_frame(events: tuple[dict, ...]) -> pd.DataFrame:
    rows = [
        {
            "at": e["at"],
            "event": e["event"],
            "step": e["step"],
            "weight %": e["weight"],
            "decision": e["detail"].get("decision"),
            "reason": e["detail"].get("reason"),
        }
        for e in events
    ]
    return utc(pd.DataFrame(rows), ["at"])


def pairs(frame: pd.DataFrame | None, n_pairs: int | None) -> None:
    """Each pair's primary (control) against its shadow copy, per measure, with y = x."""
    if frame is None or frame.empty:
        st.info("No shadow pairs yet: no shadow copy has its primary in the window.")
        return
    st.caption(f"{fmt.count(n_pairs)} pairs (at most 2,000 drawn per measure).")
    shown = [m for m in PAIRED if m in set(frame["measure"])]
    for column, measure in zip(st.columns(len(shown)), shown, strict=True):
        part = frame[frame["measure"] == measure]
        fig = px.scatter(part, x="control", y="variant", opacity=0.5)
        top = float(max(part["control"].max(), part["variant"].max(), 0)) if len(part) else 0.0
        fig.add_shape(type="line", x0=0, y0=0, x1=top, y1=top, line_dash="dash")
        fig = fmt.figure(fig, f"shadow {PAIRED[measure]}", height=280)
        fig.update_layout(hovermode="closest", xaxis_title=f"primary {PAIRED[measure]}")
        with column:
            st.plotly_chart(fig, key=f"experiment_pairs_{measure}")
