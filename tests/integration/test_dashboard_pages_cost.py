"""The Overview, Cost, Requests and Request pages, run in-process with Streamlit's AppTest
on a store written by the agent's own writer: the figures each page shows equal the ones
computed from the seeded records (tests/dashboard_seed.py's frame), with and without a
model or tenant filter; an empty or missing store gives a plain message."""

from __future__ import annotations

import dataclasses
import math
import sqlite3

import pandas as pd
import pytest

from alerts.engine.state import EngineState, StoredAlert
from alerts.model import Alert
from dashboards.ui import fmt
from tests.dashboard_app import page_test, shown_text
from tests.dashboard_seed import frame_of, seed_records, write_store

pytestmark = pytest.mark.integration

NOW = 1_796_040_000.0 + 30  # 2026-11-30 12:00:30 UTC, not on a minute
DAY_START = 1_795_996_800.0  # 2026-11-30 00:00 UTC
MONTH_START = 1_793_491_200.0  # 2026-11-01 00:00 UTC
RANGE_END = math.ceil(NOW / 60) * 60  # the default range (last day), as the sidebar widens it
RANGE_START = RANGE_END - 86400
CAPTURED = "req-00003999"  # the newest record, stored with (redacted) text
CONFIG = """
alerts:
  cost:
    budgets:
      - {tenant: acme, period: day, amount: 0.02}
      - {tenant: globex, period: month, amount: 0.05}
cost:
  hosted_prices:
    llama-3-8b: {input_per_1m: 0.2, output_per_1m: 0.6}
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    records = seed_records(4000, NOW - 40 * 86400, NOW, seed=3)
    records[-1] = dataclasses.replace(
        records[-1], prompt_text="my mail is [EMAIL]", completion_text="noted [EMAIL]"
    )
    d = tmp_path_factory.mktemp("store")
    write_store(d, records)
    config = d / "inferwatch.yaml"
    config.write_text(CONFIG)
    return d, frame_of(records)


def run(monkeypatch, seeded, page: str, **params):
    d, _ = seeded
    flags = ("--data-dir", str(d), "--now", str(NOW), "--config", str(d / "inferwatch.yaml"))
    at = page_test(monkeypatch, page, *flags, params=params)
    assert not at.exception
    return at


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def table_with(at, column: str) -> pd.DataFrame:
    return next(t.value for t in at.dataframe if column in t.value.columns)


def within(df: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    return df[(df["wall_time"] >= start) & (df["wall_time"] < end)]


def test_overview_shows_the_seeded_spend_budgets_and_traffic(monkeypatch, seeded):
    df = seeded[1]
    at = run(monkeypatch, seeded, "overview")
    today, month = within(df, DAY_START, NOW + 1), within(df, MONTH_START, NOW + 1)
    assert metric(at, "Spend today (UTC)") == fmt.money(today["cost_amount"].sum())
    assert metric(at, "Spend this month (UTC)") == fmt.money(month["cost_amount"].sum())
    acme_today = today.loc[today["tenant"] == "acme", "cost_amount"].sum()
    budgets = table_with(at, "used")
    assert budgets.set_index("tenant").loc["acme", "used"] == fmt.share(acme_today / 0.02)
    day = within(df, RANGE_START, RANGE_END)
    assert metric(at, "Requests") == fmt.count(len(day))
    errors = (day["status"] != "ok").sum()
    assert metric(at, "Error rate") == fmt.share(errors / len(day), 2)
    tokens = day["prompt_tokens"].fillna(0).sum() + day["completion_tokens"].fillna(0).sum()
    per_1m = day["cost_amount"].sum() / tokens * 1e6
    assert metric(at, "Cost per 1M all tokens") == fmt.money(per_1m)
    assert "Alerts are off: no alerts.db beside the store." in shown_text(at)


def test_overview_latency_quantiles_are_the_records(monkeypatch, seeded):
    day = within(seeded[1], RANGE_START, RANGE_END)
    at = run(monkeypatch, seeded, "overview")
    shown = metric(at, "p95 latency")
    assert shown.endswith(" s")
    assert float(shown[:-2]) == pytest.approx(day["latency_s"].quantile(0.95), rel=0.1)


def test_overview_with_a_tenant_filter(monkeypatch, seeded):
    df = seeded[1]
    acme = df[df["tenant"] == "acme"]
    at = run(monkeypatch, seeded, "overview", tenant="acme")
    today = within(acme, DAY_START, NOW + 1)
    assert metric(at, "Spend today (UTC)") == fmt.money(today["cost_amount"].sum())
    assert metric(at, "Requests") == fmt.count(len(within(acme, RANGE_START, RANGE_END)))
    assert table_with(at, "used")["tenant"].tolist() == ["acme"]  # globex's budget left out


def test_overview_lists_what_fires_now_from_alerts_db(monkeypatch, seeded, tmp_path):
    d = seeded[0]
    conn = sqlite3.connect(d / "alerts.db", isolation_level=None)
    state = EngineState(conn)
    firing = Alert({"alertname": "BudgetThreshold", "tenant": "acme"}, {"summary": "80% used"})
    gone = Alert({"alertname": "CostAnomaly"}, {"summary": "old"}, NOW - 600, NOW - 60)
    for alert in (dataclasses.replace(firing, starts_at=NOW - 300), gone):
        state.put_alert(StoredAlert(alert, "cost", NOW, "g"))
    conn.close()
    try:
        at = run(monkeypatch, seeded, "overview")
    finally:
        (d / "alerts.db").unlink()
    table = table_with(at, "alertname")
    assert table["alertname"].tolist() == ["BudgetThreshold"]
    assert table["summary"].tolist() == ["80% used"]
    assert table["labels"].tolist() == ["tenant=acme"]


def test_cost_page_spend_hosted_budget_and_top_request(monkeypatch, seeded):
    day = within(seeded[1], RANGE_START, RANGE_END)
    at = run(monkeypatch, seeded, "cost")
    assert metric(at, "Spend in this range") == fmt.money(day["cost_amount"].sum())
    llama = day[day["model"] == "llama-3-8b"]
    hosted = (llama["prompt_tokens"].sum() * 0.2 + llama["completion_tokens"].sum() * 0.6) / 1e6
    assert metric(at, "At hosted list prices") == fmt.money(hosted)
    assert metric(at, "Measured cost") == fmt.money(llama["cost_amount"].sum())
    month = within(seeded[1], MONTH_START, NOW + 1)
    globex = month.loc[month["tenant"] == "globex", "cost_amount"].sum()
    burn = pd.concat([t.value for t in at.dataframe if "used" in t.value.columns])
    assert burn.set_index("tenant").loc["globex", "used"] == fmt.share(globex / 0.05)
    top = table_with(at, "request_id")
    expected = day.sort_values("cost_amount", ascending=False).head(20)
    assert top["request_id"].tolist() == expected["request_id"].tolist()
    assert top["cost_amount"].iloc[0] == pytest.approx(expected["cost_amount"].iloc[0])
    assert top["request"].iloc[0] == f"request?id={expected['request_id'].iloc[0]}"


def test_cost_page_with_a_model_filter(monkeypatch, seeded):
    day = within(seeded[1], RANGE_START, RANGE_END)
    qwen = day[day["model"] == "qwen2-7b"]
    at = run(monkeypatch, seeded, "cost", model="qwen2-7b")
    assert metric(at, "Spend in this range") == fmt.money(qwen["cost_amount"].sum())
    assert set(table_with(at, "request_id")["model"]) == {"qwen2-7b"}
    assert "No requests to a model with a list price in this time range" in shown_text(at)


def test_requests_page_table_newest_first_and_by_status(monkeypatch, seeded):
    day = within(seeded[1], RANGE_START, RANGE_END)
    at = run(monkeypatch, seeded, "requests")
    table = table_with(at, "request_id")
    newest = day.sort_values("wall_time", ascending=False)
    assert table["request_id"].tolist() == newest["request_id"].tolist()
    at.multiselect(key="requests_status").select("upstream_error").run()
    assert not at.exception
    errors = newest[newest["status"] == "upstream_error"]
    assert table_with(at, "request_id")["request_id"].tolist() == errors["request_id"].tolist()
    assert f"{fmt.count(len(errors))} requests shown (at most 500)." in shown_text(at)


def test_requests_page_with_a_tenant_filter(monkeypatch, seeded):
    day = within(seeded[1], RANGE_START, RANGE_END)
    at = run(monkeypatch, seeded, "requests", tenant="globex")
    shown = table_with(at, "request_id")
    assert sorted(shown["request_id"]) == sorted(day.loc[day["tenant"] == "globex", "request_id"])


def test_request_page_shows_one_record_without_text(monkeypatch, seeded):
    df = seeded[1].set_index("request_id")
    rid = "req-00003990"
    at = run(monkeypatch, seeded, "request", id=rid)
    row = df.loc[rid]
    assert metric(at, "Input tokens") == fmt.count(row["prompt_tokens"])
    assert metric(at, "Cost") == fmt.money(row["cost_amount"])
    assert metric(at, "Latency") == fmt.duration(row["latency_s"])
    assert not at.expander or all("Captured" not in e.label for e in at.expander)
    assert "No text stored for this request" in shown_text(at)


def test_request_page_shows_captured_text_only_under_its_expander(monkeypatch, seeded):
    at = run(monkeypatch, seeded, "request", id=CAPTURED)
    assert [e.label for e in at.expander if "Captured" in e.label] == ["Captured text (redacted)"]
    assert [c.value for c in at.code] == ["my mail is [EMAIL]", "noted [EMAIL]"]
    assert "prompt_text" not in str(at.json[0].value)


def test_request_page_unknown_id(monkeypatch, seeded):
    at = run(monkeypatch, seeded, "request", id="req-nope")
    # The id is the client's text, escaped for markdown (it renders as req-nope).
    assert f"No request with id {fmt.plain('req-nope')} in the request log." in shown_text(at)


def test_filters_hold_across_a_page_switch(monkeypatch, seeded):
    at = run(monkeypatch, seeded, "cost", range="7d", tenant="acme")
    assert at.selectbox(key="range").value == "7d"
    assert at.multiselect(key="filter_tenant").value == ["acme"]


@pytest.mark.parametrize("page", ["overview", "cost", "requests"])
def test_an_empty_store_says_so(monkeypatch, tmp_path, page):
    write_store(tmp_path, [])
    at = page_test(monkeypatch, page, "--data-dir", str(tmp_path), "--now", str(NOW))
    assert not at.exception
    assert "No requests in this time range." in shown_text(at)


@pytest.mark.parametrize("page", ["overview", "cost", "requests", "request"])
def test_a_missing_store_says_so(monkeypatch, tmp_path, page):
    at = page_test(monkeypatch, page, "--data-dir", str(tmp_path / "nowhere"), "--now", str(NOW))
    assert not at.exception
    assert [e.value for e in at.error] and "nowhere" in at.error[0].value
