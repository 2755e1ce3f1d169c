"""The canary gate over arms read from a real store: an error-rate jump fails, equal arms
pass, a slower or costlier variant fails on that metric alone, and too little data is
continue with the counts said."""

from __future__ import annotations

import pytest

from agent.routing.config import GateConfig
from alerts.experiments.arms import connect_ro, load
from alerts.experiments.canary_gate import evaluate_gate
from alerts.experiments.gate import Decision
from tests.experiment_store import arm, write_store

pytestmark = pytest.mark.unit


def _gate(tmp_path, control, variant, **cfg):
    conn = connect_ro(write_store(tmp_path / "s.db", control + variant))
    try:
        return evaluate_gate(load(conn, "exp", "a", "b"), GateConfig(**cfg))
    finally:
        conn.close()


def _by(outcome):
    return {m.metric: m for m in outcome.metrics}


def test_an_error_rate_jump_fails_the_gate_in_points(tmp_path):
    out = _gate(tmp_path, arm(1000, "a", seed=1), arm(1000, "b", seed=2, error_rate=0.08))
    errors = _by(out)["error rate"]
    assert out.decision is Decision.FAIL and errors.decision is Decision.FAIL
    assert errors.scale == "points" and errors.low is not None and errors.low > 0.01
    assert out.reason.startswith("error rate +") and "over the 1.0-point margin" in out.reason
    doc = out.to_json()
    assert doc["decision"] == "fail"
    assert doc["metrics"][3]["interval"][0] == pytest.approx(errors.low)


def test_equal_arms_pass_every_metric(tmp_path):
    out = _gate(tmp_path, arm(2000, "a", seed=3), arm(2000, "b", seed=4))
    assert out.decision is Decision.PASS, out.reason
    assert {m.decision for m in out.metrics} == {Decision.PASS}
    assert all(m.high is not None and m.high < m.margin for m in out.metrics)
    assert out.reason.startswith("every gated metric within its margin")


def test_a_slower_variant_fails_on_latency_alone_relative_to_the_margin(tmp_path):
    # 30% slower but 1/1.3 the cost per second: the same cost per request.
    slow = arm(1500, "b", seed=6, slower=1.3, costlier=1 / 1.3)
    by = _by(_gate(tmp_path, arm(1500, "a", seed=5), slow))
    assert by["latency"].decision is Decision.FAIL and by["ttft"].decision is Decision.FAIL
    assert by["latency"].low is not None and 0.2 < by["latency"].low < 0.3 < by["latency"].high
    assert by["cost"].decision is Decision.PASS and by["error rate"].decision is Decision.PASS


def test_cost_is_gated_relative_to_the_controls_mean(tmp_path):
    control, costly = arm(1500, "a", seed=7), arm(1500, "b", seed=8, costlier=1.25)
    cost = _by(_gate(tmp_path, control, costly))["cost"]
    assert cost.decision is Decision.FAIL and cost.scale == "relative"
    assert cost.low is not None and cost.high is not None and cost.low < 0.25 < cost.high
    (tmp_path / "relaxed").mkdir()
    relaxed = _gate(tmp_path / "relaxed", control, costly, max_cost_regression=0.5)
    assert _by(relaxed)["cost"].decision is Decision.PASS


def test_too_few_requests_continue_and_say_how_many(tmp_path):
    out = _gate(tmp_path, arm(40, "a", seed=9), arm(12, "b", seed=10, error_rate=0.5))
    assert out.decision is Decision.CONTINUE
    assert "error rate: not enough data (control 40, variant 12; 50 each needed)" in out.reason
    assert all(m.low is None for m in out.metrics)
