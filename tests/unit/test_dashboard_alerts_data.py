"""The dashboard's read-only views of the alerts database (dashboards/data/alerts*.py),
on a database written by the real alert code (tests/dashboard_alerts_seed.py), and the
two history tables the engine and the drift detector now keep for it."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pandas as pd
import pytest

from alerts import db
from alerts.drift.config import DriftConfig
from alerts.drift.snapshot import Snapshots
from alerts.engine.config import RouteConfig
from alerts.engine.engine import AlertEngine
from alerts.engine.state import EngineState
from alerts.model import Alert
from dashboards.data import alerts_compare, alerts_drift
from dashboards.data.alerts import AlertsData
from dashboards.data.api import DataUnavailable
from tests.dashboard_alerts_seed import drift_traffic, seed_alerts

pytestmark = pytest.mark.unit

NOW = 1767225600.0  # 2026-01-01 00:00 UTC
DAY = (NOW - 86400, NOW + 60)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return seed_alerts(tmp_path_factory.mktemp("alerts"), NOW)


@pytest.fixture
def data(seeded):
    return AlertsData(seeded.path)


def test_alerts_firing_and_resolved_are_the_engines_even_after_it_forgot_them(seeded, data):
    shown = data.alerts(*DAY, NOW)
    firing = shown[shown["state"] == "firing"]
    assert sorted(firing["summary"]) == sorted(a.annotations["summary"] for a in seeded.anomalies)
    drift = shown[shown["summary"] == seeded.resolved.annotations["summary"]].iloc[0]
    assert drift["alertname"] == "InferwatchDrift" and drift["state"] == "resolved"
    assert drift["starts_at"] == seeded.drift_times[1] and drift["ends_at"] == seeded.drift_times[2]
    conn = sqlite3.connect(seeded.path)  # the engine itself dropped it after the flush
    assert conn.execute("SELECT COUNT(*) FROM engine_alerts WHERE source='drift'").fetchone() == (
        0,
    )


def test_cost_anomalies_carry_size_and_driver(seeded, data):
    shown = data.anomalies(*DAY).set_index("segment")
    for a in seeded.anomalies:
        row = shown.loc[a.labels["segment"]]
        assert row["size"] == pytest.approx(float(a.annotations["size"]))
        assert row["driver"] == a.annotations["top_contributors"]
        assert row["starts_at"] == a.starts_at and row["currency"] == "USD"
    assert shown.loc["total", "driver"].startswith("tenant=beta +")


def test_deliveries_per_receiver_count_each_outcome(seeded, data):
    shown = data.deliveries(*DAY).set_index("receiver")
    assert shown.loc["hook", "delivered"] == seeded.delivered["hook"] > 0
    assert shown.loc["pager", "failed"] == seeded.failed["pager"]
    assert (
        shown.loc["pager", "pending"] == seeded.pending["pager"] == shown.loc["pager", "retrying"]
    )
    assert shown.loc["pager", "last_error"] == seeded.last_error
    assert shown.loc["pager", "attempts"] == 3 + seeded.pending["pager"]
    assert data.deliveries(NOW + 60, NOW + 120).empty  # nothing created in that range


def test_silences_active_and_expired_with_creator_and_comment(seeded, data):
    shown = data.silences(NOW)
    assert dict(zip(shown["comment"], shown["state"], strict=True)) == seeded.silences
    acme = shown[shown["comment"] == "acme maintenance window"].iloc[0]
    assert json.loads(acme["matchers"]) == ['tenant="acme"'] and acme["created_by"] == "alice"
    assert list(shown["state"]) == ["active", "expired"]  # current first


def test_views_never_write_the_file(seeded, data):
    before = hashlib.sha256(seeded.path.read_bytes()).hexdigest()
    data.alerts(*DAY, NOW), data.deliveries(*DAY), data.silences(NOW), alerts_drift.snapshots(data)
    assert hashlib.sha256(seeded.path.read_bytes()).hexdigest() == before


def test_no_file_says_alerts_are_off(tmp_path):
    with pytest.raises(DataUnavailable, match=r"alerts are off: no alerts.db in .*alerts.enabled"):
        AlertsData(tmp_path / "alerts.db").silences(NOW)
    assert not (tmp_path / "alerts.db").exists()  # not created by reading


def test_a_file_from_an_older_inferwatch_says_which_table_it_lacks(tmp_path):
    conn = sqlite3.connect(tmp_path / "alerts.db")
    conn.execute(  # engine_alerts as an agent before alert_history wrote it
        "CREATE TABLE engine_alerts (fingerprint TEXT PRIMARY KEY, labels TEXT, annotations "
        "TEXT, starts_at REAL, ends_at REAL, generator_url TEXT, source TEXT, last_seen REAL,"
        " group_key TEXT)"
    )
    conn.execute(
        "INSERT INTO engine_alerts VALUES ('f', ?, '{}', 10, NULL, '', 'drift', 10, 'g')",
        (json.dumps({"alertname": "InferwatchDrift"}),),
    )
    conn.commit()
    data = AlertsData(tmp_path / "alerts.db")
    assert list(data.alerts(0, 100, 50)["alertname"]) == ["InferwatchDrift"]
    for view in (lambda: data.silences(NOW), lambda: data.deliveries(0, 1)):
        with pytest.raises(DataUnavailable, match="has no .* table: it was written by an older"):
            view()
    assert alerts_drift.snapshots(data).empty


def test_history_keeps_one_episode_per_firing_and_refiring_begins_another(tmp_path):
    state = EngineState(db.connect(tmp_path / "alerts.db"))
    engine = AlertEngine(RouteConfig(), [], state, lambda n: None)
    alert = Alert({"alertname": "X", "tenant": "a"})
    for t, report in ((100, [alert]), (160, [alert]), (200, []), (300, [alert])):
        engine.process(t, "d", report)
        engine.tick(t)
    shown = AlertsData(tmp_path / "alerts.db").alerts(0, 1000, 400)
    assert list(
        zip(shown["starts_at"], shown["ends_at"].fillna(-1), shown["state"], strict=True)
    ) == [
        (300, -1, "firing"),
        (100, 200, "resolved"),
    ]


def test_drift_history_holds_each_evaluations_statistic_and_verdict(seeded, data):
    keys = alerts_drift.history_keys(data, *DAY)
    assert set(keys["segment"]) == {"all", "model=m", "tenant=acme"}
    assert set(keys["evaluations"]) == {len(seeded.drift_times)}
    tokens = alerts_drift.history(data, "completion_tokens", "all", *DAY)
    assert list(tokens["evaluated_at"]) == seeded.drift_times
    assert list(tokens["drifted"]) == [0, 1, 0]  # calm, shifted window, caught up
    assert (tokens["test"] == "ks").all() and (tokens["statistic"] < 1).all()
    dataset = alerts_drift.history(data, "dataset", "all", *DAY)
    assert (dataset["threshold"] == DriftConfig().drift_share).all()


def test_a_snapshot_reads_back_as_the_drift_code_saved_it(tmp_path):
    frame = drift_traffic(0, 500, shift_from=1000)
    snaps = Snapshots(db.connect(tmp_path / "alerts.db"))
    snaps.save("baseline", frame, 0, 500, 600)
    data = AlertsData(tmp_path / "alerts.db")
    assert list(alerts_drift.snapshots(data)["rows"]) == [500]
    pd.testing.assert_frame_equal(alerts_drift.snapshot(data, "baseline"), snaps.load("baseline"))
    with pytest.raises(DataUnavailable, match="no drift snapshot named 'other'"):
        alerts_drift.snapshot(data, "other")


def test_distributions_are_shares_of_the_values_each_window_holds():
    ref = drift_traffic(0, 600, shift_from=10_000)
    cur = drift_traffic(600, 1200, shift_from=600, seed=2)
    config = DriftConfig()
    shown = alerts_compare.distributions(ref, cur, "completion_tokens", "all", config)
    counts = shown.groupby("window")["count"].sum()
    assert counts["reference"] == 600 and counts["current"] == 600
    assert shown.groupby("window")["share"].sum().round(9).eq(1).all()
    median_bin = shown[shown["window"] == "current"]["share"].cumsum().ge(0.5).idxmax()
    low = float(shown.loc[median_bin, "bin"].split("–")[0])
    assert low < 3 * float(ref["completion_tokens"].median()) * 1.3  # bins in token units
    cats = alerts_compare.distributions(ref, cur, "finish_reason", "all", config)
    assert list(cats["bin"]) == ["stop", "stop"] and list(cats["share"]) == [1.0, 1.0]


def test_the_page_comparison_flags_the_shifted_window_and_not_the_calm_one():
    calm = drift_traffic(0, 1200, shift_from=10_000)
    shifted = drift_traffic(0, 1200, shift_from=600)
    config = alerts_compare.page_config(DriftConfig())
    for frame, expected in ((calm, False), (shifted, True)):
        ref, cur = frame[frame["wall_time"] < 600], frame[frame["wall_time"] >= 600]
        report = alerts_compare.compare(ref, cur, config)
        table = alerts_compare.report_frame(report).set_index(["segment", "feature"])
        assert table.loc[("all", "completion_tokens"), "drifted"] == expected
        assert alerts_compare.verdicts(report)["segment"].iloc[0] == "all"


def test_the_agents_evaluator_gives_its_drift_detector_the_history(tmp_path):
    from alerts.config import AlertsConfig
    from alerts.evaluator import Evaluator, SourceSpec
    from tests.dashboard_alerts_seed import FrameSource

    ev = Evaluator(
        AlertsConfig(
            enabled=True,
            cost={"enabled": False},
            drift={"window_s": 300, "reference_s": 600, "calibration_resamples": 50},
        ),
        tmp_path / "alerts.db",
        SourceSpec(store_path=tmp_path / "none.db"),
    )
    ev.detectors["drift"].source = FrameSource(drift_traffic(0, 1000, shift_from=700))
    ev.run(1000.0, {})
    shown = alerts_drift.history(
        AlertsData(tmp_path / "alerts.db"), "completion_tokens", "all", 0, 2000
    )
    assert list(shown["evaluated_at"]) == [1000.0] and list(shown["drifted"]) == [1]
