"""Drift tests held to SciPy on known cases, Evidently's selection, and hostile data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp
from scipy.spatial import distance

from alerts.drift import stats, stats_rows
from alerts.drift.stats_select import binned_counts, run_test, select_test

pytestmark = pytest.mark.unit


def series(values) -> pd.Series:
    return pd.Series(values)


def test_ks_is_scipys_two_sample_p_value_and_drift_is_below_005():
    g = np.random.default_rng(1)
    a, b = g.normal(0, 1, 300), g.normal(0.5, 1, 200)
    result = run_test("ks", series(a), series(b), "num")
    assert result.statistic == pytest.approx(sp.ks_2samp(a, b).pvalue)
    assert result.threshold == 0.05 and result.kind == "p_value" and result.drifted


def test_wasserstein_is_normed_by_the_reference_population_std():
    ref, cur = np.array([0.0, 1, 2, 3]), np.array([1.0, 2, 3, 4])
    result = run_test("wasserstein", series(ref), series(cur), "num")
    assert result.statistic == pytest.approx(1.0 / np.std(ref))  # shift 1 over std 1.118
    assert result.drifted and result.kind == "distance"


def test_wasserstein_of_a_constant_reference_divides_by_0001_as_evidently():
    result = run_test("wasserstein", series([5.0] * 50), series([5.0] * 49 + [5.1]), "num")
    assert result.statistic == pytest.approx((0.1 / 50) / 0.001)


def test_chisquare_compares_current_counts_with_scaled_reference_counts():
    ref = series(["a"] * 60 + ["b"] * 30 + ["c"] * 10)
    cur = series(["a"] * 20 + ["b"] * 20 + ["c"] * 10)
    expected = sp.chisquare([20, 20, 10], [30, 15, 5]).pvalue
    assert run_test("chisquare", ref, cur, "cat").statistic == pytest.approx(expected)


def test_chisquare_with_a_category_unseen_in_the_reference_is_p_zero():
    ref, cur = series(["a", "b", "c"] * 20), series(["a", "b", "c", "d"] * 15)
    assert run_test("chisquare", ref, cur, "cat").statistic == 0.0


def test_jensenshannon_is_scipys_base_2_over_the_union_of_categories():
    ref, cur = series(["a"] * 70 + ["b"] * 30), series(["a"] * 40 + ["b"] * 40 + ["z"] * 20)
    result = run_test("jensenshannon", ref, cur, "cat")
    assert result.statistic == pytest.approx(
        distance.jensenshannon([70, 30, 0], [40, 40, 20], base=2)
    )


def test_z_test_matches_the_two_proportion_formula():
    ref, cur = series(["x"] * 40 + ["y"] * 60), series(["x"] * 60 + ["y"] * 40)
    pooled = 0.5
    z = 0.2 / np.sqrt(pooled * pooled * (1 / 100 + 1 / 100))
    assert run_test("z", ref, cur, "cat").statistic == pytest.approx(2 * sp.norm.sf(z))
    assert run_test("z", series(["x"] * 40), series(["x"] * 30), "cat").statistic == 1.0


def test_psi_fills_zero_shares_as_evidently():
    ref, cur = np.array([50.0, 50.0, 0.0]), np.array([40.0, 40.0, 20.0])
    r, c = np.array([0.5, 0.5, 1e-4]), np.array([0.4, 0.4, 0.2])
    assert stats.psi_counts(ref, cur) == pytest.approx(np.sum((r - c) * np.log(r / c)))


def test_numerical_bins_are_sturges_over_both_windows_above_20_values():
    g = np.random.default_rng(2)
    ref, cur = series(g.normal(size=500)), series(g.normal(size=300))
    r, c = binned_counts(ref, cur, "num")
    edges = np.histogram_bin_edges(np.r_[ref, cur], bins="sturges")
    assert len(r) == len(edges) - 1 and r.sum() == 500 and c.sum() == 300


@pytest.mark.parametrize(
    ("n_ref", "values", "kind", "expected"),
    [
        (1000, range(6), "num", "ks"),
        (1000, range(5), "num", "chisquare"),
        (1000, range(2), "num", "z"),
        (1000, "abc", "cat", "chisquare"),
        (1000, "ab", "cat", "z"),
        (1001, range(6), "num", "wasserstein"),
        (1001, range(5), "num", "jensenshannon"),
        (1001, "ab", "cat", "jensenshannon"),
    ],
)
def test_default_selection_is_evidentlys(n_ref, values, kind, expected):
    values = list(values)
    ref = series([values[i % len(values)] for i in range(n_ref)])
    assert select_test(ref, series(values), kind) == expected


def test_vectorised_rows_equal_the_single_pair_functions():
    g = np.random.default_rng(3)
    ref = g.integers(0, 20, (5, 4)).astype(float)
    cur = g.integers(0, 20, (5, 4)).astype(float)
    ref[0, 2] = 0.0
    for i in range(5):
        js = stats_rows.js_rows(ref, cur)[i]
        assert js == pytest.approx(stats.jensenshannon_counts(ref[i], cur[i]))
        assert stats_rows.psi_rows(ref, cur)[i] == pytest.approx(stats.psi_counts(ref[i], cur[i]))
        p = stats.chisquare_counts(ref[i], cur[i])
        assert np.exp(-stats_rows.neg_log_chisquare_rows(ref, cur)[i]) == pytest.approx(p)


def test_hostile_values_huge_and_one_category_and_one_row():
    huge = series([1e300, -1e300, 1e299] * 20)
    assert np.isfinite(run_test("ks", huge, huge, "num").statistic)
    shifted = run_test("wasserstein", huge, huge + 1e299, "num").statistic
    small = run_test("wasserstein", huge / 1e290, huge / 1e290 + 1e9, "num").statistic
    assert shifted == pytest.approx(small) and shifted > 0.1  # no overflowing std
    one = run_test("jensenshannon", series(["a"] * 40), series(["a"] * 40), "cat")
    assert one.statistic == 0.0 and not one.drifted
    single = run_test("ks", series([1.0]), series([2.0]), "num")
    assert single.statistic == 1.0


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown drift test 'kl'"):
        run_test("kl", series([1.0]), series([1.0]), "num")
    with pytest.raises(ValueError, match="numerical features only"):
        run_test("wasserstein", series(["a"]), series(["b"]), "cat")
    with pytest.raises(ValueError, match="at least one value"):
        run_test("ks", pd.Series([], dtype=float), series([1.0]), "num")
    with pytest.raises(ValueError, match="'num' or 'cat'"):
        select_test(series([1.0]), series([1.0]), "text")
