"""The Drift page's panels: verdicts, the feature and segment chooser, the distributions
overlaid, the report's rows, and the statistic over time against its threshold."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from dashboards.data import alerts_compare, alerts_drift
from dashboards.data.alerts import AlertsData
from dashboards.ui import fmt, frame
from dashboards.views.alerts_common import table, utc

P_VALUE_TESTS = ("ks", "chisquare", "z")  # drift below the threshold; distances above


def verdicts(report) -> None:
    """The dataset verdict of segment "all" as a figure, and every segment's in a table."""
    found = alerts_compare.verdicts(report)
    if found.empty:
        frame.no_data("features to compare")
        st.stop()
    first = found.iloc[0]
    word = "Drift" if first["dataset_drift"] else "No drift"
    st.metric(
        f"Dataset verdict ({fmt.plain(first['segment'])})",
        word,
        f"{first['drifted_share']:.0%} of features drifted (limit {first['limit']:.0%})",
        delta_color="off",
    )
    for note in report.notes:  # may name segments, i.e. tenants and models
        st.caption(fmt.plain(note))
    with st.expander("Verdict per segment"):
        table(found, "drift_verdicts")


def choose(report) -> tuple[str, str]:
    """The segment and feature the panels below show (tested ones first)."""
    segments = list(report.dataset_drift)
    left, right = st.columns(2)
    segment = left.selectbox("Segment", segments, key="drift_segment")
    features = [r.feature for r in report.rows if r.segment == segment]
    drifted = [r.feature for r in report.rows if r.segment == segment and r.drifted]
    feature = right.selectbox(
        "Feature", features, index=features.index(drifted[0]) if drifted else 0, key="drift_feature"
    )
    return segment, feature


def distributions(ref, cur, feature: str, segment: str, config) -> None:
    """Both windows' shares per bin or category of the feature, overlaid."""
    shares = alerts_compare.distributions(ref, cur, feature, segment, config)
    if shares.empty:
        frame.no_data(f"values of {feature}")
        return
    fig = px.bar(
        shares.assign(bin=shares["bin"].map(fmt.inert)),  # categories may name tenants
        x="bin",
        y="share",
        color="window",
        barmode="overlay",
        opacity=0.6,
        hover_data=["count"],
        labels={"bin": feature, "share": "share of requests"},
    )
    st.plotly_chart(fig, key="drift_distributions")
    frame.csv_button(shares, f"drift_distribution_{feature}_{segment}")


def report_table(report, segment: str) -> None:
    """The comparison's rows of the segment."""
    rows = alerts_compare.report_frame(report)
    st.caption(
        "p-value tests (ks, chisquare, z) drift below their threshold; distances "
        "(wasserstein, jensenshannon, psi) at or above it."
    )
    table(rows[rows["segment"] == segment], f"drift_report_{segment}")


def history(db: AlertsData, feature: str, segment: str, start: float, end: float) -> None:
    """The detector's statistic at each evaluation in the range, and its threshold."""
    st.subheader("Statistic over time")
    if not db.path.is_file():
        st.info(f"No drift history: alerts are off (no alerts.db in {db.path.parent}).")
        return
    points = alerts_drift.history(db, feature, segment, start, end)
    if points.empty:
        st.info(
            f"No drift evaluations of {feature} in {segment} recorded in this range "
            "(the agent records each one when alerts.enabled and alerts.drift.enabled)."
        )
        return
    shown = utc(points, ["evaluated_at"])
    fig = go.Figure()
    fig.add_scatter(
        x=shown["evaluated_at"], y=shown["statistic"], name="statistic", mode="lines+markers"
    )
    fig.add_scatter(
        x=shown["evaluated_at"], y=shown["threshold"], name="threshold", line={"dash": "dash"}
    )
    hit = shown[shown["drifted"] == 1]
    fig.add_scatter(
        x=hit["evaluated_at"],
        y=hit["statistic"],
        name="drifted",
        mode="markers",
        marker={"color": "#d62728", "size": 10},
    )
    if set(points["test"]) <= set(P_VALUE_TESTS):
        fig.update_yaxes(type="log")  # p-values span tens of orders of magnitude
    fig.update_layout(
        xaxis_title="evaluated at (UTC)", yaxis_title=" / ".join(sorted(set(points["test"])))
    )
    st.plotly_chart(fig, key="drift_history")
    frame.csv_button(shown, f"drift_history_{feature}_{segment}")
