"""Cost series from a hand-built record frame: sums per interval and segment, empty
intervals as zeros, unknown (NaN) and refused (negative, inf) costs counted, not summed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alerts.cost.series import aggregate, segment_series, top_values

pytestmark = pytest.mark.unit


def records(rows):
    cols = ["wall_time", "tenant", "model", "cost_amount", "completion_tokens"]
    return pd.DataFrame(rows, columns=cols)


FRAME = records(
    [
        (0.0, "acme", "m1", 1.0, 100.0),
        (30.0, "acme", "m2", 2.0, 300.0),
        (59.9, "beta", "m1", 0.5, np.nan),  # cost known, tokens unknown
        (60.0, "beta", "m1", np.nan, 50.0),  # cost not yet known
        (200.0, "beta", "m1", 4.0, 1000.0),
        (201.0, "acme", "m1", -3.0, 10.0),  # refused
        (202.0, "acme", "m1", math.inf, 10.0),  # refused
        (float("nan"), "acme", "m1", 1.0, 10.0),  # no time: refused
    ]
)


def series():
    agg = aggregate(FRAME, 60.0)
    tenants, _ = top_values(agg, "tenant", 20)
    models, _ = top_values(agg, "model", 20)
    return agg, segment_series(agg, 0, 5, tenants, models)


def test_cost_is_summed_per_interval_and_segment_with_empty_intervals_as_zero():
    _, s = series()
    cost = s["cost"]
    assert list(cost.index) == [0, 1, 2, 3, 4]
    assert cost["total"].tolist() == [3.5, 0.0, 0.0, 4.0, 0.0]
    assert cost["tenant=acme"].tolist() == [3.0, 0.0, 0.0, 0.0, 0.0]
    assert cost["tenant=beta"].tolist() == [0.5, 0.0, 0.0, 4.0, 0.0]
    assert cost["model=m2"].tolist() == [2.0, 0.0, 0.0, 0.0, 0.0]


def test_requests_count_unknown_costs_but_not_refused_records():
    _, s = series()
    assert s["requests"]["total"].tolist() == [3.0, 1.0, 0.0, 1.0, 0.0]


def test_cost_per_1k_output_uses_records_with_both_known_and_is_missing_when_empty():
    _, s = series()
    per_1k = s["cost_per_1k_output"]["total"]
    assert per_1k[0] == pytest.approx(1000 * 3.0 / 400.0)
    assert per_1k[3] == pytest.approx(4.0)
    assert math.isnan(per_1k[1]) and math.isnan(per_1k[2])


def test_unknown_and_refused_costs_are_counted():
    agg, _ = series()
    assert agg["unknown"].sum() == 1
    assert agg["invalid"].sum() == 3


def test_segments_are_capped_by_spend_and_the_rest_counted():
    agg = aggregate(records([(0.0, f"t{i}", "m", float(i), 1.0) for i in range(1, 6)]), 60.0)
    keep, skipped = top_values(agg, "tenant", 2)
    assert keep == ["t5", "t4"] and skipped == 3


def test_empty_and_all_nan_frames_give_zero_cost():
    assert len(aggregate(records([]), 60.0)) == 0
    agg = aggregate(records([(0.0, "a", "m", np.nan, 1.0), (5.0, "a", "m", np.nan, 1.0)]), 60.0)
    s = segment_series(agg, 0, 2, ["a"], ["m"])
    assert s["cost"]["total"].tolist() == [0.0, 0.0]
    assert agg["unknown"].sum() == 2


def test_a_frame_without_the_contract_columns_is_a_clear_error():
    with pytest.raises(ValueError, match="cost_amount"):
        aggregate(
            pd.DataFrame(
                {"wall_time": [0.0], "tenant": ["a"], "model": ["m"], "completion_tokens": [1.0]}
            ),
            60.0,
        )
