"""Names clients choose (tenant, model, request id) reach the dashboard's pages, plots
and CSV files: shown as text there, never as markdown links, HTML or spreadsheet formulas."""

from __future__ import annotations

import io
import time

import pandas as pd
import plotly.express as px
import pytest

from dashboards.ui import fmt
from dashboards.ui.frame import csv_text

pytestmark = pytest.mark.unit

HOSTILE = "[sign in again](https://evil.example) **now** :red[!]"


def test_plain_text_has_no_markdown_left():
    text = fmt.plain(HOSTILE + "\n# heading")
    # Every bracket, parenthesis, star and colon escaped; no line break left for a heading.
    assert "\\[sign in again\\]\\(https\\://evil\\.example\\)" in text
    assert "\\*\\*now\\*\\*" in text and "\\:red\\[\\!\\]" in text
    assert "\n" not in text and "\\# heading" in text


def test_plot_series_names_are_drawn_as_text_not_html():
    df = pd.DataFrame({"x": [1, 2], "y": [1, 2], "tenant": ['<a href="https://evil">acme</a>'] * 2})
    fig = fmt.figure(px.line(df, x="x", y="y", color="tenant"))
    assert fig.data[0].name == '&lt;a href="https://evil"&gt;acme&lt;/a&gt;'


def test_csv_cells_a_spreadsheet_would_run_are_made_text():
    df = pd.DataFrame(
        {
            "tenant": ['=HYPERLINK("https://evil")', "+1+1", "@SUM(A1)", "-2", "acme", "\tx"],
            "cost": [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    back = pd.read_csv(io.StringIO(csv_text(df)), keep_default_na=False)
    assert back["tenant"].tolist() == [
        '\'=HYPERLINK("https://evil")',
        "'+1+1",
        "'@SUM(A1)",
        "'-2",
        "acme",
        "'\tx",
    ]
    assert back["cost"].tolist() == [-0.5, 1.0, 2.0, 3.0, 4.0, 5.0]  # numbers stay numbers


def test_a_request_page_shows_a_hostile_tenant_as_text(monkeypatch, tmp_path):
    import dataclasses

    from tests.dashboard_app import page_test
    from tests.dashboard_seed import seed_records, write_store

    now = time.time()
    record = dataclasses.replace(seed_records(1, now - 600, now - 60)[0], tenant=HOSTILE)
    write_store(tmp_path, [record])
    at = page_test(
        monkeypatch, "request", "--data-dir", str(tmp_path), params={"id": record.request_id}
    )
    assert not at.exception
    caption = next(c.value for c in at.caption if "tenant" in c.value)
    assert fmt.plain(HOSTILE) in caption and "](https" not in caption
    missing = page_test(monkeypatch, "request", "--data-dir", str(tmp_path), params={"id": HOSTILE})
    assert fmt.plain(HOSTILE) in missing.warning[0].value


def test_the_safety_chart_draws_a_hostile_tenant_as_text(monkeypatch, tmp_path):
    import dataclasses

    from agent.record import SafetyVerdict
    from tests.dashboard_app import page_test
    from tests.dashboard_seed import seed_records, write_store

    now = time.time()
    link = '<a href="https://evil.example">acme</a>'
    record = dataclasses.replace(
        seed_records(1, now - 600, now - 60)[0],
        tenant=link,
        safety=(SafetyVerdict("pii.email", "input", "redact", 1),),
    )
    write_store(tmp_path, [record])
    at = page_test(monkeypatch, "safety", "--data-dir", str(tmp_path))
    at.radio[0].set_value("tenant").run()  # stack the bars by tenant
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert specs and not any('<a href=\\"https://evil' in s for s in specs)
    assert any("&lt;a href=" in s for s in specs)
