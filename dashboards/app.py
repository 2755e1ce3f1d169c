"""The Streamlit app: one page per question an operator asks, each with its own URL.

Started by `inferwatch dashboard` (`streamlit run dashboards/app.py -- <flags>`; see
`dashboards.context` for the flags). Reads only: never writes the store.
"""

from __future__ import annotations

import streamlit as st

from dashboards.navigation import HIDDEN, NAVIGATION, PAGES
from dashboards.ui import frame


def main() -> None:
    """Configure the page, build the navigation and run the chosen page."""
    st.set_page_config(page_title="inferwatch", layout="wide", page_icon=":material/monitoring:")
    pages = [
        st.Page(PAGES / f, title=t, url_path=u, icon=i, default=n == 0)
        for n, (f, t, u, i) in enumerate(NAVIGATION)
    ]
    pages += [
        st.Page(PAGES / f, title=t, url_path=u, icon=i, visibility="hidden")
        for f, t, u, i in HIDDEN
    ]
    chosen = st.navigation(pages)
    frame.prepare()  # the shared sidebar, drawn here so its choices follow from page to page
    chosen.run()


# Streamlit runs this file as the main script; importing it runs nothing.
if __name__ == "__main__":
    main()
