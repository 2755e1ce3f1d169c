"""Sidebar choices that outlive a page switch."""

from __future__ import annotations

import streamlit as st


def carry(key: str) -> None:
    """Keep the value of the widget with `key` when the user moves to another page.

    Each page draws its own copy of the sidebar, and Streamlit resets a widget to its
    default when another page's widget takes over its key (the time range fell back to
    its first choice, the model and tenant filters to none). Writing the value back before
    the widget is drawn makes it the app's own value, which the new widget starts from."""
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]
