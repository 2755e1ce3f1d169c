"""The Anomalies and alerts page: cost anomalies on a timeline with their size and driver,
alerts firing and resolved, notification delivery per receiver, and silences, all read
from the alerts database (dashboards/data/alerts.py), never the request log."""

from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data.alerts import AlertsData
from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views.alerts_common import panel, table, utc


def render(ctx: PageContext) -> None:
    """Draw the page (it needs the alerts database only)."""
    db = AlertsData(ctx.app.alerts_db)
    if not ctx.app.alerts_db.is_file():
        st.info(f"Alerts are off: no alerts.db in {ctx.app.alerts_db.parent} (set alerts.enabled).")
        return
    start, end, now = ctx.filters.start, ctx.filters.end, ctx.now
    st.caption("All models and tenants: alerts carry their own labels.")
    st.subheader("Cost anomalies")
    window = (start, end)
    panel(lambda: _anomalies(db.anomalies(start, end), window))
    st.subheader("Alerts")
    panel(lambda: _alerts(db.alerts(start, end, now), now, window))
    st.subheader("Notifications per receiver")
    receivers = [h.name for h in ctx.app.settings.alerts.webhooks]
    panel(lambda: _deliveries(db.deliveries(start, end), receivers))
    st.subheader("Silences")
    panel(lambda: _silences(db.silences(now)))


def _over(fig, window: tuple[float, float], y_title: str = ""):
    """The page's figure defaults, over the page's whole range (not only the spread of
    the events: four anomalies at one instant drew an axis of milliseconds)."""
    fig = fmt.figure(fig, y_title)
    return fig.update_xaxes(range=[pd.to_datetime(t, unit="s", utc=True) for t in window])


def _anomalies(found: pd.DataFrame, window: tuple[float, float]) -> None:
    if found.empty:
        frame.no_data("cost anomalies")
        return
    shown = utc(found, ["starts_at", "ends_at"])
    fig = px.scatter(
        shown.assign(magnitude=shown["size"].abs(), segment=shown["segment"].map(fmt.inert)),
        x="starts_at",
        y="size",
        size="magnitude",
        color="segment",
        hover_data=["series", "observed", "expected", "driver"],
        labels={"starts_at": "started (UTC)", "size": "added over the stretch"},
    )
    st.plotly_chart(_over(fig, window, "added over the stretch"), key="anomaly_timeline")
    table(shown, "cost_anomalies")


def _alerts(found: pd.DataFrame, now: float, window: tuple[float, float]) -> None:
    if found.empty:
        frame.no_data("alerts")
        return
    firing = int((found["state"] == "firing").sum())
    left, right = st.columns(2)
    left.metric("Firing", firing)
    right.metric("Resolved", len(found) - firing)
    # Labels name tenants and models (clients choose them): drawn as text on the axis.
    found = found.assign(labels=found["labels"].map(_labels).map(fmt.inert))
    bars = utc(found.assign(until=found["ends_at"].fillna(now)), ["starts_at", "until"])
    fig = px.timeline(
        bars,
        x_start="starts_at",
        x_end="until",
        y="labels",
        color="state",
        hover_data=["alertname", "summary"],
        color_discrete_map={"firing": "#d62728", "resolved": "#2ca02c"},
    )
    fig.update_yaxes(title=None)
    st.plotly_chart(_over(fig, window), key="alert_timeline")
    table(utc(found, ["starts_at", "ends_at"]), "alerts")


def _deliveries(found: pd.DataFrame, receivers: list[str]) -> None:
    quiet = sorted(set(receivers) - set(found["receiver"]))
    found = pd.concat([found, pd.DataFrame({"receiver": quiet})], ignore_index=True)
    counts = ["delivered", "pending", "failed", "retrying", "attempts"]
    found[counts] = found[counts].fillna(0).astype(int)
    if found.empty:
        frame.no_data("notifications")
        return
    long = found.melt("receiver", ["delivered", "pending", "failed"], "status", "notifications")
    fig = px.bar(
        long,
        x="receiver",
        y="notifications",
        color="status",
        barmode="stack",
        color_discrete_map={"delivered": "#2ca02c", "pending": "#ff7f0e", "failed": "#d62728"},
    )
    st.plotly_chart(fig, key="deliveries")
    table(utc(found, ["last_update"]), "notifications_per_receiver")


def _silences(found: pd.DataFrame) -> None:
    if found.empty:
        st.info("No silences.")
        return
    found = found.assign(matchers=found["matchers"].map(lambda m: ", ".join(json.loads(m))))
    table(utc(found, ["starts_at", "ends_at"]), "silences")


def _labels(text: str) -> str:
    labels = json.loads(text)
    rest = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")]
    return f"{labels.get('alertname', '')} {' '.join(rest)}".strip()
