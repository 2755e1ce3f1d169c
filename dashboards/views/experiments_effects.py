"""The Experiments page's verdicts and effects: a colour-coded summary per verdict, the
effects with their 95% intervals as forest plots (relative to the control, and in points
for rates, each with its zero line), and the table of every metric."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.ui import fmt
from dashboards.views import experiments_format as ef
from dashboards.views.alerts_common import table

ORDER = ("worse", "better", "no_difference", "not_enough_data")
COLOURS = {ef.VERDICTS[v][0]: ef.VERDICTS[v][2] for v in ORDER}


def summary(doc: dict) -> None:
    """One line per verdict that some metric has: the verdict, colour-coded, and its
    metrics."""
    for v in ORDER:
        metrics = doc["summary"][v]
        if metrics:
            names = ", ".join(fmt.plain(ef.name(m)) for m in metrics)
            st.markdown(f"{ef.verdict(v)} {names}")


def rows(doc: dict, currency: str) -> pd.DataFrame:
    """The table: metric, control, variant, difference [95% CI], p adjusted, verdict."""
    out = []
    for m in doc["metrics"]:
        e = m["effect"] or {}
        out.append(
            {
                "metric": ef.name(m["metric"]),
                "control": ef.value(m, e.get("control"), currency),
                "variant": ef.value(m, e.get("variant"), currency),
                "difference [95% CI]": ef.difference(m, currency),
                "p adjusted": ef.p_value(m["p_adjusted"]),
                "verdict": ef.VERDICTS[m["verdict"]][0],
                "test": m["test"],
            }
        )
    return pd.DataFrame(out)


def forest_frame(doc: dict) -> pd.DataFrame:
    """Each metric's effect on one scale: `relative` (difference in % of the control's
    value; the median for a latency shift, the mean for tokens and cost) or `points`
    (rates). Columns metric, scale, effect, low, high, verdict. Metrics with no effect, or
    a control of 0 on the relative scale, are left out."""
    out = []
    for m in doc["metrics"]:
        e = m["effect"]
        if e is None or None in (e["difference"], *e["ci"]):
            continue
        scale, base = ("points", 1.0) if ef.is_rate(m) else ("relative", e["control"])
        if not base or base <= 0:
            continue
        d, low, high = (100 * x / base for x in (e["difference"], *e["ci"]))
        out.append((ef.name(m["metric"]), scale, d, low, high, ef.VERDICTS[m["verdict"]][0]))
    cols = ["metric", "scale", "effect", "low", "high", "verdict"]
    return pd.DataFrame(out, columns=cols)


def forest(doc: dict) -> None:
    """The forest plots, relative effects then rates (a plot per scale that has rows)."""
    f = forest_frame(doc)
    titles = {
        "relative": "difference, % of the control's value",
        "points": "difference of rates, percentage points",
    }
    for scale, title in titles.items():
        part = f[f["scale"] == scale]
        if part.empty:
            continue
        fig = px.scatter(
            part.assign(plus=part["high"] - part["effect"], minus=part["effect"] - part["low"]),
            x="effect",
            y="metric",
            color="verdict",
            error_x="plus",
            error_x_minus="minus",
            color_discrete_map=COLOURS,
            hover_data={"low": ":.2f", "high": ":.2f", "plus": False, "minus": False},
        )
        fig.add_vline(x=0, line_dash="dash", line_color="#444")
        fig = fmt.figure(fig, height=80 + 28 * len(part))
        fig.update_layout(hovermode="closest", xaxis_title=title, yaxis_title="")
        # The report's order, top down (not grouped by verdict, as the colours would).
        fig.update_yaxes(
            categoryorder="array", categoryarray=list(part["metric"]), autorange="reversed"
        )
        st.plotly_chart(fig, key=f"experiment_forest_{scale}")


def effects_table(doc: dict, currency: str) -> None:
    """The table with its CSV export."""
    table(rows(doc, currency), "experiment_effects")
