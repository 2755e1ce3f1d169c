"""Running the dashboard's pages in-process with Streamlit's AppTest.

The app reads its flags from `sys.argv` (as `streamlit run app.py -- <flags>` passes
them); `page_test` sets them for the duration of a test with pytest's monkeypatch.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"


def page_test(monkeypatch, page: str, *flags: str, params: dict | None = None) -> AppTest:
    """Run page `page` (e.g. "cost") of the app with `flags`; returns the finished
    AppTest (its elements are what the page shows). `params`: URL query parameters."""
    monkeypatch.setattr(sys, "argv", [str(APP), *flags])
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def shown_text(at: AppTest) -> str:
    """Every text a page shows (markdown, captions, metrics, messages), one per line."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    parts += [e.value for kind in (at.error, at.warning, at.info, at.success) for e in kind]
    parts += [t.value for t in at.title] + [h.value for h in at.subheader]
    return "\n".join(str(p) for p in parts)
