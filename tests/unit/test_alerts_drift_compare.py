"""compare() over record frames: segments, not enough data, shifts found, report forms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sp

from alerts.drift.compare import compare
from alerts.drift.config import DriftConfig
from alerts.drift.report import NOT_ENOUGH_DATA

pytestmark = pytest.mark.unit


def records(n: int, seed: int, shift: float = 1.0, models=("m1", "m2")) -> pd.DataFrame:
    """A synthetic record frame of the preamble's contract."""
    g = np.random.default_rng(seed)
    ct = np.exp(g.normal(5, 0.5, n)) * shift
    return pd.DataFrame(
        {
            "wall_time": np.arange(n, dtype=float),
            "tenant": g.choice(["a", "b"], n),
            "model": g.choice(list(models), n),
            "http_status": g.choice([200, 400, 500], n, p=[0.95, 0.03, 0.02]),
            "prompt_tokens": np.exp(g.normal(6, 0.8, n)).round(),
            "completion_tokens": ct.round(),
            "latency_s": ct * 0.02 + g.exponential(0.1, n),
            "ttft_s": g.exponential(0.2, n),
            "tpot_s": g.normal(0.02, 0.002, n),
            "cost_amount": ct * 1e-5,
            "finish_reason": g.choice(["stop", "length", None], n, p=[0.8, 0.15, 0.05]),
            "safety_filters": g.choice(["", "pii", "pii,secrets"], n, p=[0.9, 0.07, 0.03]),
        }
    )


def row(report, feature, segment="all"):
    (found,) = [r for r in report.rows if r.feature == feature and r.segment == segment]
    return found


def test_a_ten_percent_shift_of_completion_tokens_drifts_and_prompt_tokens_do_not():
    report = compare(records(20000, 1), records(2000, 2, shift=1.1), DriftConfig())
    shifted, same = row(report, "completion_tokens"), row(report, "prompt_tokens")
    assert shifted.test == "wasserstein" and shifted.drifted and shifted.statistic >= 0.1
    assert not same.drifted and same.p_value > 0.01


@pytest.mark.parametrize("log_scale", [True, False])
def test_skewed_features_are_tested_on_log1p_unless_switched_off(log_scale):
    ref, cur = records(3000, 1), records(1500, 2, shift=1.1)
    report = compare(ref, cur, DriftConfig(log_scale=log_scale, max_value_rows=10**6))
    got = row(report, "completion_tokens")
    f = np.log1p if log_scale else (lambda x: x)
    r, c = f(ref["completion_tokens"].to_numpy()), f(cur["completion_tokens"].to_numpy())
    expected = sp.wasserstein_distance(r, c) / max(np.std(r), 0.001)
    assert got.test == "wasserstein" and got.statistic == pytest.approx(expected, rel=1e-6)


def test_segments_are_all_then_models_and_tenants_with_enough_rows():
    config = DriftConfig(min_segment_rows=300)
    report = compare(records(2000, 1), records(700, 2), config)
    assert list(report.dataset_drift) == [
        "all",
        "model=m1",
        "model=m2",
        "tenant=a",
        "tenant=b",
    ]
    assert not any(r.feature == "model" for r in report.rows if r.segment == "model=m1")
    report = compare(records(2000, 1), records(500, 2), config)  # 250 rows per tenant
    assert list(report.dataset_drift) == ["all"]


def test_too_few_rows_is_not_enough_data_never_drift():
    ref, cur = records(2000, 1), records(10, 2, shift=3.0)
    report = compare(ref, cur, DriftConfig())
    assert {r.note for r in report.rows} == {NOT_ENOUGH_DATA}
    assert not any(r.drifted for r in report.rows)
    assert report.dataset_drift == {"all": False}


def test_all_nan_feature_is_not_enough_data_and_others_are_tested():
    ref, cur = records(2000, 1), records(500, 2)
    cur["ttft_s"] = np.nan
    ref.loc[:, "cost_amount"] = np.inf
    report = compare(ref, cur, DriftConfig())
    assert row(report, "ttft_s").note == NOT_ENOUGH_DATA
    assert row(report, "cost_amount").n_reference == 0
    assert row(report, "latency_s").test == "wasserstein"


def test_safety_filters_become_one_hit_feature_each():
    report = compare(records(2000, 1), records(500, 2), DriftConfig())
    names = {r.feature for r in report.rows if r.feature.startswith("safety_")}
    assert names == {"safety_pii", "safety_secrets"}


def test_to_dict_is_json_and_table_is_aligned():
    ref, cur = records(2000, 1), records(10, 2)
    report = compare(ref, cur, DriftConfig())
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["rows"][0]["statistic"] is None and data["rows"][0]["note"] == NOT_ENOUGH_DATA
    lines = report.table().splitlines()
    assert lines[0].split()[:4] == ["segment", "feature", "test", "statistic"]
    assert lines[1].index("prompt_tokens") == lines[0].index("feature")


def test_a_frame_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="reference must be a pandas DataFrame"):
        compare([1, 2], records(10, 1), DriftConfig())


def test_text_columns_go_through_the_domain_classifier():
    ref, cur = records(400, 1), records(200, 2)
    ref["prompt_text"] = [f"Please summarise the report number {i} for me." for i in range(400)]
    cur["prompt_text"] = [f"def f{i}(x):\n    return x * {i}" for i in range(200)]
    ref["completion_text"] = [f"The summary of item {i} is short." for i in range(400)]
    cur["completion_text"] = [f"The summary of item {i} is short." for i in range(200)]
    report = compare(ref, cur, DriftConfig())
    prompt, completion = row(report, "prompt_text"), row(report, "completion_text")
    assert prompt.test == "domain_classifier" and prompt.drifted and prompt.statistic > 0.9
    assert not completion.drifted and completion.statistic < 0.55


def test_fixed_thresholds_flag_small_windows_that_calibration_does_not():
    fixed = calibrated = 0
    for seed in range(10):
        ref, cur = records(1500, seed), records(40, 100 + seed)
        fixed += any(r.drifted for r in compare(ref, cur, DriftConfig(calibrate=False)).rows)
        calibrated += any(r.drifted for r in compare(ref, cur, DriftConfig()).rows)
    assert fixed >= 8 and calibrated <= 2


def test_a_test_override_is_used_for_that_feature():
    config = DriftConfig(tests={"completion_tokens": "psi", "*": "ks"})
    report = compare(records(2000, 1), records(500, 2), config)
    assert row(report, "completion_tokens").test == "psi"
    assert row(report, "latency_s").test == "ks"
    assert row(report, "finish_reason").test == "jensenshannon"  # ks never applies to categories


def test_empty_and_one_row_frames_are_not_enough_data():
    for ref, cur in ((pd.DataFrame(), pd.DataFrame()), (records(1, 1), records(1, 2))):
        report = compare(ref, cur, DriftConfig())
        assert report.dataset_drift == {"all": False}
        assert report.rows and {r.note for r in report.rows} == {NOT_ENOUGH_DATA}


def test_a_frame_with_one_column_tests_that_column_only():
    ref, cur = pd.DataFrame({"latency_s": [1.0] * 50}), pd.DataFrame({"latency_s": [2.0] * 50})
    report = compare(ref, cur, DriftConfig())
    (tested,) = [r for r in report.rows if r.tested]
    assert tested.feature == "latency_s" and tested.test == "z" and tested.drifted
    assert report.dataset_drift == {"all": True}


def test_unseen_categories_and_a_constant_column_in_current():
    ref, cur = records(2000, 1), records(500, 2)
    cur["finish_reason"] = "content_filter"  # never seen in the reference
    cur["tpot_s"] = 0.02
    ref["tpot_s"] = 0.02
    report = compare(ref, cur, DriftConfig())
    finish, tpot = row(report, "finish_reason"), row(report, "tpot_s")
    assert finish.test == "jensenshannon" and finish.drifted and finish.statistic > 0.9
    assert tpot.test == "jensenshannon" and not tpot.drifted and tpot.statistic == 0.0


def test_a_cost_shift_drifts_although_costs_are_tiny_amounts():
    ref, cur = records(20000, 1), records(2000, 2)
    ref["cost_amount"] *= 0.1  # about 1e-4 per request: a std under Evidently's 0.001 floor
    cur["cost_amount"] *= 0.1 * 1.2
    shifted = row(compare(ref, cur, DriftConfig()), "cost_amount")
    assert shifted.test == "wasserstein" and shifted.drifted and shifted.statistic > 0.1
