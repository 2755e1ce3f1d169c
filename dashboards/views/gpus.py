"""The GPUs and vLLM page's body."""

from __future__ import annotations

import streamlit as st

from dashboards.ui import frame
from dashboards.ui.frame import PageContext


def render(ctx: PageContext) -> None:
    """Draw the page (not yet built)."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    st.write("This page is being built.")
