"""The sidebar's time range: the last 15 minutes to 30 days, or custom dates (UTC).

The choice is kept in the URL (`?range=1d`, or `?range=custom&from=2026-12-01&to=...`).
"""

from __future__ import annotations

import datetime as dt
import math

import streamlit as st

RANGES = {
    "15m": ("Last 15 minutes", 900),
    "1h": ("Last hour", 3600),
    "6h": ("Last 6 hours", 6 * 3600),
    "1d": ("Last day", 86400),
    "7d": ("Last 7 days", 7 * 86400),
    "30d": ("Last 30 days", 30 * 86400),
    "custom": ("Custom dates", 0),
}
DEFAULT = "1d"


def last(span_s: float, now: float) -> tuple[float, float]:
    """The trailing range of `span_s` ending at the minute after `now`."""
    end = math.ceil(now / 60) * 60
    return end - span_s, end


def days(first: dt.date, final: dt.date) -> tuple[float, float]:
    """From 00:00 UTC of `first` to 24:00 UTC of `final`."""
    start = dt.datetime.combine(first, dt.time(), dt.UTC).timestamp()
    end = dt.datetime.combine(final, dt.time(), dt.UTC).timestamp() + 86400
    return start, end


def pick(now: float) -> tuple[float, float]:
    """Draw the range chooser (in the sidebar); returns (start, end) in epoch seconds."""
    if "range" not in st.session_state:
        wanted = st.query_params.get("range", DEFAULT)
        st.session_state["range"] = wanted if wanted in RANGES else DEFAULT
    key = st.selectbox(
        "Time range (UTC)", list(RANGES), format_func=lambda k: RANGES[k][0], key="range"
    )
    st.query_params["range"] = key
    if key != "custom":
        return last(RANGES[key][1], now)
    return _custom(now)


def _custom(now: float) -> tuple[float, float]:
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    if "custom_days" not in st.session_state:
        st.session_state["custom_days"] = (
            _date(st.query_params.get("from"), today - dt.timedelta(days=7)),
            _date(st.query_params.get("to"), today),
        )
    picked = st.date_input("Dates (UTC)", key="custom_days", max_value=today)
    span = (picked,) if isinstance(picked, dt.date) else picked  # one day while picking
    first, final = (span[0], span[-1]) if span else (today, today)
    st.query_params["from"], st.query_params["to"] = first.isoformat(), final.isoformat()
    return days(first, final)


def _date(text: str | None, fallback: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback
