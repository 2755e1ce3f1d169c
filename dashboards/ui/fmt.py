"""Formatting shared by the pages: money, durations, counts, shares, times, and the
defaults every Plotly figure gets. Pure functions (no Streamlit), so tests can compute the
text a page shows from the numbers they expect.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd
import plotly.graph_objects as go

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(amount: float | None, currency: str = "USD") -> str:
    """`$12.34`, or `12.34 CHF` for a currency with no symbol here. Amounts under one keep
    three significant digits (`$0.0754`, `$0.000123`): a request costs fractions of a cent."""
    if amount is None or not math.isfinite(amount):
        return "–"
    if amount != 0 and abs(amount) < 1:
        digits = 2 - math.floor(math.log10(abs(amount)))
        text = f"{abs(amount):.{digits}f}"
    else:
        text = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def duration(seconds: float | None) -> str:
    """`850 ms`, `2.35 s`, `4.2 min`, `3.1 h`; `–` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def span(seconds: float) -> str:
    """A range's length in its largest whole unit: `7 days`, `1 day`, `6 h`, `15 min`."""
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}s" if unit == "day" and n != 1 else f"{n} {unit}"
    return duration(seconds)


def count(n: float | None) -> str:
    """A whole number with thousands separators (`12,345`)."""
    if n is None or not math.isfinite(n):
        return "–"
    return f"{round(n):,}"


def share(ratio: float | None, digits: int = 1) -> str:
    """A ratio as a percentage (`12.5%`); `–` when unknown (e.g. 0 of 0)."""
    if ratio is None or not math.isfinite(ratio):
        return "–"
    return f"{ratio * 100:.{digits}f}%"


def when(epoch_s: float | None) -> str:
    """An instant in UTC, to the second (`2026-12-01 14:03:07 UTC`)."""
    if epoch_s is None or not math.isfinite(epoch_s):
        return "–"
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def times(epoch_s: pd.Series | list[float]) -> pd.Series | pd.DatetimeIndex:
    """Epoch seconds as UTC datetimes, for a plot's x axis."""
    return pd.to_datetime(epoch_s, unit="s", utc=True)


# Every ASCII punctuation character can be backslash-escaped in CommonMark.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^\"'])")


def plain(text: object) -> str:
    """`text` safe to put inside Streamlit markdown (captions, messages, headings): its
    punctuation escaped, its line breaks made spaces. Tenant and model names and request
    ids come from clients: a name like `[sign in](https://evil)` must not become a link."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def inert(text: object) -> object:
    """`text` for Plotly, which draws a subset of HTML (links among it) in series names,
    axis categories and hover text: shown as the characters it is."""
    if not isinstance(text, str):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def figure(fig: go.Figure, y_title: str = "", height: int = 320) -> go.Figure:
    """The defaults every figure gets: compact margins, legend on top, one hover box per
    x (all series at that time), the y axis titled; series names (tenants and models,
    which clients choose) drawn as text, never as HTML."""
    fig.for_each_trace(lambda t: t.update(name=inert(t.name)))
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        legend_title_text="",
        hovermode="x unified",
        yaxis_title=y_title,
        xaxis_title="",
    )
    return fig
