"""Small helpers the Drift, Anomalies and alerts, and Safety pages share (kept here, not
in dashboards/ui, which another part owns)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import streamlit as st

from dashboards.data.api import DataUnavailable


def panel(draw: Callable[[], Any]) -> Any:
    """Run one panel; a `DataUnavailable` becomes its message on the page (the rest of
    the page still draws). Returns what `draw` returned, or None."""
    try:
        return draw()
    except DataUnavailable as err:
        st.error(str(err))
        return None


def utc(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy with the epoch-second `columns` as UTC datetimes (missing stays missing)."""
    out = frame.copy()
    for c in columns:
        out[c] = pd.to_datetime(pd.to_numeric(out[c], errors="coerce"), unit="s", utc=True)
    return out


def table(frame: pd.DataFrame, name: str) -> None:
    """Show a table with its CSV export (what the panel shows, as it shows it)."""
    from dashboards.ui import frame as ui

    st.dataframe(frame, hide_index=True, width="stretch")
    ui.csv_button(frame, name)
