"""The dashboard's pages: their scripts, titles and addresses (read by the app, the
tests and the benchmarks; importing it runs nothing)."""

from __future__ import annotations

from pathlib import Path

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
    ("experiments.py", "Experiments", "experiments", ":material/science:"),
)
# One request's record: reached from the tables (`/request?id=...`), not in the menu.
HIDDEN = (("request.py", "Request", "request", ":material/receipt_long:"),)
