"""A table of single requests (`RequestData.requests`) whose rows open the Request page."""

from __future__ import annotations

import urllib.parse

import pandas as pd
import streamlit as st

from dashboards.ui import frame

SHOWN = (
    "request",
    "time",
    "tenant",
    "model",
    "status",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "ttft_s",
    "cost_amount",
)


def link(request_id: str) -> str:
    """The Request page's address for one request, relative to the app's own path (so it
    works under a proxy's prefix too)."""
    return "request?" + urllib.parse.urlencode({"id": request_id})


def show(requests: pd.DataFrame, name: str, currency: str) -> None:
    """Draw `requests` with a link per row to its record, and its CSV export."""
    table = requests.assign(
        request=requests["request_id"].map(link),
        time=pd.to_datetime(requests["wall_time"], unit="s", utc=True),
    )
    config = {
        "request": st.column_config.LinkColumn("request", display_text=r"id=(.*)$"),
        "time": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "latency_s": st.column_config.NumberColumn("latency (s)", format="%.3f"),
        "ttft_s": st.column_config.NumberColumn("TTFT (s)", format="%.3f"),
        "cost_amount": st.column_config.NumberColumn(f"cost ({currency})", format="%.6f"),
    }
    st.dataframe(
        table, hide_index=True, column_order=SHOWN, column_config=config, key=f"table_{name}"
    )
    frame.csv_button(requests, name)
