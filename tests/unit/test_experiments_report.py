"""An experiment read back from a real store (the store's schema and row conversion) and
compared: the arms as loaded, a clearly worse variant, an A/A run, too little data, and
shadow pairs matched by the request they copied."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from agent.record import STATUS_ERROR
from alerts.experiments.arms import connect_ro, load
from alerts.experiments.report import compare
from tests.experiment_store import T0, arm, write_store
from tests.store_records import make_record

pytestmark = pytest.mark.unit


def _load(tmp_path, records, **kw):
    conn = connect_ro(write_store(tmp_path / "s.db", records))
    try:
        return load(conn, "exp", "a", "b", **kw)
    finally:
        conn.close()


def test_the_arms_hold_each_requests_measures_by_upstream(tmp_path):
    ok = make_record(0, stream=True, experiment="exp", variant="a", completion_tokens=5)
    whole = make_record(1, stream=False, experiment="exp", variant="a", cost_amount=None)
    failed = make_record(2, experiment="exp", variant="b", status=STATUS_ERROR, safety=())
    other = make_record(3, experiment="other", variant="a")
    data = _load(tmp_path, [ok, whole, failed, other])
    a, b = data.control, data.variant
    assert (a.n, b.n, data.kind) == (2, 1, "split")
    assert sorted(a.values("latency_s")) == pytest.approx([0.25, 0.25])
    assert sorted(a.values("ttft_s")) == pytest.approx([0.05, 0.05])
    # Only the stream has a time per output token: (0.25 - 0.05) s over 4 tokens.
    assert list(a.values("tpot_s")) == pytest.approx([0.05])
    assert list(a.values("cost")) == pytest.approx([0.001])
    assert a.safety == {"pii.email": 2} and b.safety == {}
    # An error's time is not a latency of the model; it counts as an error.
    assert b.values("latency_s").size == 0 and list(b.errors) == [True]
    assert a.finish_reasons == ("stop", "stop")


def test_the_window_and_max_rows_keep_the_newest_requests(tmp_path):
    records = arm(50, "a", seed=1) + arm(50, "b", seed=2)
    data = _load(tmp_path, records, since=T0 + 10, until=T0 + 40, max_rows=20)
    ids = {r.request_id: r.wall_time for r in records}
    kept = [ids[i] for i in data.control.request_ids]
    assert kept == [T0 + 39 - k for k in range(20)]
    assert data.variant.n == 20 and (data.since, data.until) == (T0 + 10, T0 + 40)


def test_a_slower_costlier_failing_variant_is_worse_with_intervals_away_from_zero(tmp_path):
    records = arm(1500, "a", seed=1) + arm(
        1500, "b", seed=2, slower=1.3, costlier=1.2, error_rate=0.06, length_rate=0.1
    )
    report = compare(_load(tmp_path, records))
    for metric in ("latency_s", "ttft_s", "tpot_s", "cost_per_request", "cost_per_1m_tokens"):
        c = report.by_metric(metric)
        assert c.verdict.value == "worse", metric
        assert c.effect is not None and c.effect.ci.low > 0, metric
    errors = report.by_metric("error_rate").effect
    assert errors is not None and errors.control == 0 and 0.03 < errors.ci.low < errors.variant
    assert report.by_metric("finish_reason.length").verdict.value == "worse"
    # Latencies are 1.3 times the control's, costs 1.3 * 1.2 = 1.56 times.
    p50 = report.by_metric("latency_s").extra[0]
    assert p50.estimand == "p50" and p50.ratio == pytest.approx(1.3, rel=0.05)
    assert report.by_metric("cost_per_request").effect.ratio == pytest.approx(1.56, rel=0.05)


def test_an_a_a_experiment_shows_no_difference_on_any_metric(tmp_path):
    records = arm(800, "a", seed=3, error_rate=0.02, pii_rate=0.05, length_rate=0.05) + arm(
        800, "b", seed=4, error_rate=0.02, pii_rate=0.05, length_rate=0.05
    )
    doc = compare(_load(tmp_path, records)).to_json()
    verdicts = {m["metric"]: m["verdict"] for m in doc["metrics"]}
    assert set(verdicts.values()) == {"no_difference"}, verdicts
    assert {"safety_rate.pii.email", "finish_reason.length", "error_rate"} <= verdicts.keys()
    assert doc["summary"]["no_difference"] == [m["metric"] for m in doc["metrics"]]
    assert doc["summary"]["worse"] == [] and doc["n"] == {
        "control": 800,
        "variant": 800,
        "pairs": None,
    }


def test_too_little_data_is_not_enough_data_with_a_reason_and_no_nan(tmp_path):
    doc = compare(_load(tmp_path, arm(6, "a", seed=1) + arm(3, "b", seed=2))).to_json()
    latency = next(m for m in doc["metrics"] if m["metric"] == "latency_s")
    assert latency["verdict"] == "not_enough_data"
    assert latency["effect"] is None and latency["p_adjusted"] is None
    assert "control 6, variant 3" in latency["reason"]
    json.dumps(doc, allow_nan=False)  # raises on any NaN or infinity


def test_an_experiment_with_no_rows_is_all_not_enough_data(tmp_path):
    doc = compare(_load(tmp_path, [make_record(0)])).to_json()
    assert doc["n"]["control"] == 0
    assert {m["verdict"] for m in doc["metrics"]} == {"not_enough_data"}
    assert all(m["reason"] for m in doc["metrics"])


def _copies(primaries, factor: float, seed: int):
    """Shadow copies of `primaries`, `factor` times slower, in shuffled order."""
    out = [
        dataclasses.replace(
            make_record(i),
            wall_time=p.wall_time,
            start_ns=p.start_ns,
            end_ns=p.start_ns + round((p.end_ns - p.start_ns) * factor),
            completion_tokens=p.completion_tokens,
            cost_amount=p.cost_amount,
            experiment="exp",
            variant="b",
            shadow_of=p.request_id,
        )
        for i, p in enumerate(primaries)
    ]
    return [out[i] for i in np.random.default_rng(seed).permutation(len(out))]


def test_shadow_copies_are_paired_with_the_request_they_copied(tmp_path):
    primaries = arm(60, "a", seed=5)
    unpaired = make_record(99, experiment="exp", variant="b", shadow_of="gone")
    records = primaries + _copies(primaries, 1.2, seed=6) + [unpaired]
    data = _load(tmp_path, records)  # the kind is inferred: every variant row is a copy
    assert (
        data.kind == "shadow"
        and data.pairs is not None
        and data.pairs.n == 60
        and data.variant.n == 61
    )
    c, v = data.pairs.measures["latency_s"]
    # Each copy took 1.2 times its own primary's time (pairs in any other order would not).
    assert np.allclose(v / c, 1.2, rtol=1e-6)
    report = compare(data)
    paired = report.by_metric("paired.latency_s")
    assert paired.test == "wilcoxon_signed_rank" and paired.verdict.value == "worse"
    assert report.by_metric("paired.cost").verdict.value == "no_difference"
    assert report.to_json()["n"]["pairs"] == 60


def test_bad_arguments_are_refused(tmp_path):
    conn = connect_ro(write_store(tmp_path / "s.db", []))
    with pytest.raises(ValueError, match="max_rows"):
        load(conn, "exp", "a", "b", max_rows=0)
    with pytest.raises(FileNotFoundError, match="no store"):
        connect_ro(tmp_path / "missing.db")
    conn.close()
