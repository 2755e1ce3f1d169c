"""The drift detector over a real store: its alerts (names, labels, annotations), its
families, not enough data, the segment cap, snapshots as reference, and the windows."""

from __future__ import annotations

import numpy as np
import pytest

from alerts import db
from alerts.drift.config import DriftConfig
from alerts.drift.detector import DATASET_DRIFT, DRIFT, DriftDetector
from alerts.drift.snapshot import SnapshotError, Snapshots
from alerts.source import SourceUnavailable, StoreSource
from tests.store_records import make_record
from tests.unit.test_alerts_drift_data_source import write_store

pytestmark = pytest.mark.unit
T0 = 1_700_000_000.0
NOW = T0 + 7200


def store(tmp_path, shift=1.0, current_n=300, tenants=1):
    rng = np.random.default_rng(2)
    records = []
    for hour, count, scale in ((0, 300, 1.0), (1, current_n, shift)):
        times = np.sort(rng.uniform(0, 3600, count)) + T0 + 3600 * hour
        for i, t in enumerate(times):
            tokens = int(rng.normal(200, 30) * scale)
            latency = 1_000_000 + int(rng.normal(2e8, 2e7) * scale)
            records.append(
                make_record(
                    i,
                    wall_time=float(t),
                    completion_tokens=tokens,
                    prompt_tokens=int(rng.normal(100, 10) * scale),
                    end_ns=1_000_000_000 + i * 1_000_000 + latency,
                    tenant=f"t{i % tenants}",
                )
            )
    return write_store(tmp_path, records)


def config(**kw):
    return DriftConfig(**{"window_s": 3600, "reference_s": 3600, "min_segment_rows": 50, **kw})


def test_windows_are_the_last_window_and_the_trailing_reference_before_it():
    d = DriftDetector(config(), source=None)
    assert d.windows(NOW) == ((T0, T0 + 3600), (T0 + 3600, NOW))


def test_a_shift_raises_feature_and_dataset_alerts_and_families(tmp_path):
    # Tokens and latency drift, not half of every feature: a lower share makes it dataset drift.
    d = DriftDetector(config(drift_share=0.1), store(tmp_path, shift=1.5))
    alerts = d.evaluate(NOW)
    by_key = {(a.name, a.labels["feature"], a.labels["segment"]): a for a in alerts}
    tokens = by_key[(DRIFT, "completion_tokens", "all")]
    assert tokens.labels["severity"] == "warning" and tokens.starts_at == NOW
    assert "threshold" in tokens.annotations["description"]
    assert "current window 3600 s (300 requests)" in tokens.annotations["description"]
    assert (DATASET_DRIFT, "dataset", "all") in by_key
    families = {f.name: f for f in d.families()}
    detected = {
        (s.labels["feature"], s.labels["segment"]): s.value
        for s in families["inferwatch_drift_detected"].samples
    }
    assert detected[("completion_tokens", "all")] == 1.0 and detected[("dataset", "all")] == 1.0
    scores = families["inferwatch_drift_score"].samples
    assert any(s.labels["feature"] == "completion_tokens" for s in scores)
    assert all(set(s.labels) == {"feature", "segment", "test"} for s in scores)


def test_unchanged_traffic_raises_nothing(tmp_path):
    d = DriftDetector(config(), store(tmp_path, shift=1.0))
    assert d.evaluate(NOW) == []
    detected = d.families()[2].samples
    assert detected and all(s.value == 0.0 for s in detected)


def test_five_requests_is_not_enough_data_never_an_alert(tmp_path):
    d = DriftDetector(config(), store(tmp_path, shift=3.0, current_n=5))
    assert d.evaluate(NOW) == []
    assert "not enough data: the current window has 5 requests" in d.notes[0]


def test_segments_past_the_cap_are_skipped_and_counted(tmp_path):
    d = DriftDetector(config(max_segments=2), store(tmp_path, shift=1.5, tenants=4))
    alerts = d.evaluate(NOW)
    segments = {a.labels["segment"] for a in alerts}
    assert len(d.segments()) == 2 and segments <= set(d.segments())
    # all, model=fake-model, tenant=t0..t3: six segments, two kept
    assert d.skipped_segments == 4
    labelled = {s.labels["segment"] for f in d.families() for s in f.samples}
    assert labelled == set(d.segments())


def test_a_snapshot_is_the_reference_when_named(tmp_path):
    source = store(tmp_path, shift=1.5)
    snaps = Snapshots(db.connect(tmp_path / "alerts.db"))
    snaps.save("base", source.frame(T0, T0 + 3600), T0, T0 + 3600, now=T0 + 3600)
    d = DriftDetector(config(reference_snapshot="base", reference_s=60), source, snaps)
    assert any(a.labels["feature"] == "completion_tokens" for a in d.evaluate(NOW))
    with pytest.raises(SnapshotError, match="no drift snapshot named 'other'"):
        DriftDetector(config(reference_snapshot="other"), source, snaps).evaluate(NOW)


def test_an_unreadable_source_raises_source_unavailable_to_the_engine(tmp_path):
    d = DriftDetector(config(), StoreSource(tmp_path / "none.sqlite3"))
    with pytest.raises(SourceUnavailable):
        d.evaluate(NOW)
