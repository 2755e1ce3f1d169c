"""The Streamlit app: one page per question an operator asks, each with its own URL.

Started by `inferwatch dashboard` (`streamlit run dashboards/app.py -- <flags>`; see
`dashboards.context` for the flags). Reads only: never writes the store.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboards.ui import frame

# Not "pages/": Streamlit would also list that folder as pages of its own.
PAGES = Path(__file__).parent / "app_pages"

# (file, title, url path, icon); the first is the default page.
NAVIGATION = (
    ("overview.py", "Overview", "overview", ":material/dashboard:"),  # served at /
    ("cost.py", "Cost", "cost", ":material/payments:"),
    ("requests.py", "Requests", "requests", ":material/list:"),
    ("drift.py", "Drift", "drift", ":material/query_stats:"),
    ("alerts.py", "Anomalies and alerts", "alerts", ":material/notifications:"),
    ("gpus.py", "GPUs and vLLM", "gpus", ":material/memory:"),
    ("safety.py", "Safety", "safety", ":material/shield:"),
)
# One request's record: reached from the tables (`/request?id=...`), not in the menu.
HIDDEN = (("request.py", "Request", "request", ":material/receipt_long:"),)


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


main()
