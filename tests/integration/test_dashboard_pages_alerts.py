"""The Drift, Anomalies and alerts, and Safety pages in Streamlit's AppTest, on a store
written by the agent's own writer (tests/dashboard_seed.py) and an alerts database
written by the real alert code (tests/dashboard_alerts_seed.py): what each page shows
is held to what was seeded."""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from collections import Counter

import numpy as np
import pytest

from alerts import db
from alerts.drift.snapshot import Snapshots
from alerts.source import StoreSource
from tests.dashboard_alerts_seed import seed_alerts
from tests.dashboard_app import page_test, shown_text
from tests.dashboard_seed import frame_of, seed_records, write_store

pytestmark = pytest.mark.integration

NOW = 1767225600.0  # 2026-01-01 00:00 UTC
DAY = 86400.0


def run(monkeypatch, page: str, data_dir) -> object:
    """The page over the last day (chosen in the sidebar, as a person would)."""
    at = page_test(monkeypatch, page, "--data-dir", str(data_dir), "--now", str(NOW))
    at.selectbox(key="range").set_value("1d").run()
    assert not at.exception
    return at


def tables(at) -> list:
    return [t.value for t in at.dataframe]


def figures(at) -> list:
    """The page's Plotly figures (as JSON data)."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A trace's array: plotly sends numbers base64-encoded ({"dtype", "bdata"})."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    records = seed_records(3000, NOW - 2 * DAY, NOW)
    write_store(d, records)
    return d, records, seed_alerts(d, NOW)


# ---- Safety -----------------------------------------------------------------------------


def expected_hits(records, key) -> dict[str, int]:
    frame = frame_of(records)
    frame = frame[frame["wall_time"] >= NOW - DAY]
    hits: Counter[str] = Counter()
    for tenant, verdicts in zip(frame["tenant"], frame["safety"], strict=True):
        for v in verdicts:
            hits[key(v, tenant)] += v.count
    return dict(hits)


def test_safety_hits_by_filter_direction_action_and_tenant_are_the_seeded(monkeypatch, seeded):
    d, records, _ = seeded
    at = run(monkeypatch, "safety", d)
    by_filter, by_direction, by_action, by_tenant = tables(at)
    assert dict(zip(by_filter["filter"], by_filter["hits"], strict=True)) == expected_hits(
        records, lambda v, t: v.filter
    )
    assert dict(zip(by_direction["direction"], by_direction["hits"], strict=True)) == (
        expected_hits(records, lambda v, t: v.direction)
    )
    assert dict(zip(by_action["action"], by_action["hits"], strict=True)) == expected_hits(
        records, lambda v, t: v.action
    )
    assert dict(zip(by_tenant["tenant"], by_tenant["hits"], strict=True)) == expected_hits(
        records, lambda v, t: t
    )
    total = sum(expected_hits(records, lambda v, t: v.filter).values())
    assert f"Safety-filter hits: {total:,}" in shown_text(at)
    bars = figures(at)[0]["data"]
    assert sum(array(trace["y"]).sum() for trace in bars) == total  # the stacked bars


def test_safety_on_an_empty_store_says_there_is_nothing(monkeypatch, tmp_path):
    write_store(tmp_path, [])
    at = run(monkeypatch, "safety", tmp_path)
    assert "No safety-filter hits in this time range" in shown_text(at)


# ---- Anomalies and alerts ---------------------------------------------------------------


def test_alerts_page_shows_the_engines_alerts_deliveries_and_silences(monkeypatch, seeded):
    d, _, alerts = seeded
    at = run(monkeypatch, "alerts", d)
    anomalies, fired, receivers, silences = tables(at)
    assert sorted(anomalies["segment"]) == sorted(a.labels["segment"] for a in alerts.anomalies)
    assert sorted(anomalies["driver"]) == sorted(
        a.annotations["top_contributors"] for a in alerts.anomalies
    )
    text = shown_text(at)
    assert f"Firing: {len(alerts.anomalies)}" in text and "Resolved: 3" in text
    drift = fired[fired["summary"] == alerts.resolved.annotations["summary"]].iloc[0]
    assert drift["alertname"] == "InferwatchDrift" and drift["state"] == "resolved"
    by_receiver = receivers.set_index("receiver")
    assert by_receiver.loc["hook", "delivered"] == alerts.delivered["hook"]
    assert by_receiver.loc["pager", "failed"] == alerts.failed["pager"]
    assert by_receiver.loc["pager", "last_error"] == alerts.last_error
    assert dict(zip(silences["comment"], silences["state"], strict=True)) == alerts.silences


def test_alerts_page_without_an_alerts_db_says_alerts_are_off(monkeypatch, tmp_path):
    write_store(tmp_path, seed_records(10, NOW - 3600, NOW))
    at = run(monkeypatch, "alerts", tmp_path)
    assert f"Alerts are off: no alerts.db in {tmp_path} (set alerts.enabled)." in shown_text(at)


def test_alerts_page_on_an_older_alerts_db_says_what_it_lacks(monkeypatch, tmp_path):
    write_store(tmp_path, seed_records(10, NOW - 3600, NOW))
    conn = sqlite3.connect(tmp_path / "alerts.db")  # an outbox from before the engine
    conn.execute("CREATE TABLE webhook_outbox (id INTEGER PRIMARY KEY, receiver TEXT)")
    conn.commit()
    at = run(monkeypatch, "alerts", tmp_path)
    errors = [e.value for e in at.error]
    assert any("has no engine_alerts table" in e for e in errors)
    assert any("has no silences table" in e for e in errors)


# ---- Drift ------------------------------------------------------------------------------


def shifted(record):
    """A request three times as long (nine times as slow), always cut at the length limit:
    7 of the 13 features the seeded records have drift, over the dataset limit of half."""
    if record.completion_tokens is None:
        return record
    start, first, end = record.start_ns, record.first_token_ns, record.end_ns
    return dataclasses.replace(
        record,
        prompt_tokens=record.prompt_tokens * 3,
        completion_tokens=record.completion_tokens * 3,
        first_token_ns=start + 3 * (first - start),
        end_ns=start + 9 * (end - start),
        cost_amount=None if record.cost_amount is None else record.cost_amount * 3,
        finish_reason="length",
    )


@pytest.mark.parametrize("shift", [False, True])
def test_drift_verdict_is_drift_only_for_the_window_shifted_on_purpose(
    monkeypatch, tmp_path, shift
):
    records = seed_records(3000, NOW - 2 * DAY, NOW)
    if shift:
        records = [shifted(r) if r.wall_time >= NOW - DAY else r for r in records]
    write_store(tmp_path, records)
    at = run(monkeypatch, "drift", tmp_path)
    text = shown_text(at)
    assert ("Dataset verdict (all): Drift" in text) == shift
    assert ("Dataset verdict (all): No drift" in text) != shift
    n_cur = sum(r.wall_time >= NOW - DAY for r in records)
    assert f"{n_cur:,} current requests" in text
    rows = tables(at)[1].set_index("feature")  # the report of segment "all"
    assert rows.loc["completion_tokens", "drifted"] == shift


def test_drift_statistic_over_time_is_the_detectors_history(monkeypatch, seeded):
    d, _, alerts = seeded
    at = run(monkeypatch, "drift", d)
    at.selectbox(key="drift_segment").set_value("all").run()
    at.selectbox(key="drift_feature").set_value("completion_tokens").run()
    assert not at.exception
    history = next(f for f in figures(at) if f["data"][0].get("name") == "statistic")
    statistic, threshold, drifted = history["data"]
    assert len(array(statistic["y"])) == len(alerts.drift_times) == len(array(threshold["y"]))
    assert len(array(drifted["y"])) == 1  # the one evaluation whose window was shifted


def test_drift_against_a_saved_snapshot(monkeypatch, seeded):
    d, records, _ = seeded
    reference = StoreSource(d / "requests.sqlite3").frame(NOW - 2 * DAY, NOW - DAY)
    Snapshots(db.connect(d / "alerts.db")).save("last-week", reference, 0, 1, NOW)
    at = run(monkeypatch, "drift", d)
    at.radio(key="drift_reference").set_value("Saved snapshot").run()
    assert not at.exception
    assert f"Compared {len(reference):,} reference" in shown_text(at)


def test_drift_on_an_empty_store_and_without_a_store_says_so(monkeypatch, tmp_path):
    at = page_test(monkeypatch, "drift", "--data-dir", str(tmp_path), "--now", str(NOW))
    assert not at.exception and "no store at" in shown_text(at)
    write_store(tmp_path, [])
    at = run(monkeypatch, "drift", tmp_path)
    assert "No requests in the reference window" in shown_text(at)
