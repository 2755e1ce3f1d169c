"""The experiment statistics held to textbook cases, brute force and SciPy: Mann-Whitney
and Wilcoxon with their Hodges-Lehmann intervals, the exact bootstrap of a quantile,
Welch and the bootstrap rule, Newcombe's published intervals, Holm on a known list, the
confidence sequence's two forms, the gate, and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from alerts.experiments import quantiles as qs
from alerts.experiments.gate import Decision, gate
from alerts.experiments.latency import compare_latency, compare_quantile
from alerts.experiments.means import compare_mean, needs_bootstrap
from alerts.experiments.multiple import adjust, holm
from alerts.experiments.paired import compare_paired
from alerts.experiments.pairwise import kth_differences, kth_walsh
from alerts.experiments.per_token import compare_ratio_of_sums
from alerts.experiments.rates import compare_rate, newcombe_interval
from alerts.experiments.result import Direction, Verdict
from alerts.experiments.sequential import SequentialConfig, Summary, look, running, sequence

pytestmark = pytest.mark.unit

C = [
    1.83,
    0.50,
    1.62,
    2.48,
    1.68,
    1.88,
    1.55,
    3.06,
    1.30,
    2.01,
    1.12,
    2.20,
    0.91,
    1.45,
    1.77,
    2.31,
    1.05,
    1.69,
    1.40,
    2.62,
]
V = [
    2.78,
    1.33,
    2.10,
    3.02,
    1.95,
    2.65,
    2.31,
    3.40,
    1.72,
    2.49,
    1.88,
    2.95,
    1.61,
    2.22,
    2.57,
    3.11,
    1.49,
    2.03,
    2.40,
    3.30,
]


def test_mann_whitney_p_is_scipys_and_the_shift_is_the_median_pairwise_difference():
    r = compare_latency("latency", C, V)
    assert r.p_value == pytest.approx(stats.mannwhitneyu(V, C).pvalue, rel=1e-12)
    diffs = np.sort(np.subtract.outer(V, C).ravel())
    assert r.effect is not None and r.effect.difference == pytest.approx(np.median(diffs), abs=1e-9)
    # k from the normal approximation of U: round(200 - 1.96 * sqrt(400 * 41 / 12)) = 128
    k = round(200 - stats.norm.isf(0.025) * math.sqrt(400 * 41 / 12))
    assert k == 128
    assert r.effect.ci.low == pytest.approx(diffs[k - 1], abs=1e-9)
    assert r.effect.ci.high == pytest.approx(diffs[400 - k], abs=1e-9)
    assert r.verdict is Verdict.WORSE and r.sign == 1 and r.test == "mann_whitney_u"
    assert [e.estimand for e in r.extra] == ["p50", "p95"]


def test_order_statistics_of_pairs_are_exactly_the_brute_force_ones():
    g = np.random.default_rng(7)
    x, y = g.normal(size=37), g.lognormal(size=23)
    diffs = np.sort(np.subtract.outer(y, x).ravel())
    ks = np.arange(1, diffs.size + 1)
    assert np.array_equal(kth_differences(x, y, ks), diffs)
    walsh = np.sort([(x[i] + x[j]) / 2 for i in range(37) for j in range(i, 37)])
    assert np.array_equal(kth_walsh(x, np.arange(1, walsh.size + 1)), walsh)


def test_a_faster_variant_is_better_and_higher_is_better_flips_it():
    faster = compare_latency("latency", V, C)
    assert (
        faster.verdict is Verdict.BETTER
        and faster.effect is not None
        and faster.effect.difference < 0
    )
    assert (
        compare_latency("tokens_per_s", V, C, direction=Direction.HIGHER_IS_BETTER).verdict
        is Verdict.WORSE
    )


def test_the_exact_bootstrap_of_a_quantile_has_the_law_of_resampling():
    """All 5^5 resamples of five values, enumerated: the law of their 4th order statistic
    (q = 0.7, k = ceil(3.5) = 4) against 200,000 draws (standard error 0.0011)."""
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0])
    exact = np.zeros(5)
    for idx in itertools.product(range(5), repeat=5):
        exact[np.searchsorted(np.sort(x), np.sort(x[list(idx)])[3])] += 1
    exact /= 5**5
    draws = qs.draw_quantile(x, 0.7, np.random.default_rng(3), 200_000)
    seen = np.array([np.mean(draws == v) for v in np.sort(x)])
    assert np.abs(seen - exact).max() < 0.006
    assert qs.quantile(x, 0.7) == 4.0


def test_the_quantile_interval_agrees_with_scipy_bootstrap():
    g = np.random.default_rng(5)
    c, v = g.lognormal(0, 0.5, 300), g.lognormal(0.1, 0.5, 300)

    def p95_diff(v_, c_, axis=-1):
        return np.quantile(v_, 0.95, axis=axis, method="inverted_cdf") - np.quantile(
            c_, 0.95, axis=axis, method="inverted_cdf"
        )

    ref = stats.bootstrap(
        (v, c), p95_diff, n_resamples=20000, method="percentile", rng=np.random.default_rng(1)
    ).confidence_interval
    ours = compare_quantile("latency", c, v, 0.95).effect
    assert ours is not None
    width = ref.high - ref.low
    assert abs(ours.ci.low - ref.low) < 0.08 * width and abs(ours.ci.high - ref.high) < 0.08 * width


def test_welch_is_scipys_interval_and_the_bootstrap_rule_is_cochrans():
    g = np.random.default_rng(2)
    c, v = g.normal(10, 2, 200), g.normal(11, 3, 150)
    r = compare_mean("cost", c, v)
    ref = stats.ttest_ind(v, c, equal_var=False)
    assert r.test == "welch_t" and r.p_value == pytest.approx(ref.pvalue)
    assert r.effect is not None and (r.effect.ci.low, r.effect.ci.high) == pytest.approx(
        tuple(ref.confidence_interval())
    )
    # ratio 11/10-ish: log-scale se = sqrt(s_c^2/(n_c m_c^2) + s_v^2/(n_v m_v^2))
    se = math.sqrt(c.var(ddof=1) / (200 * c.mean() ** 2) + v.var(ddof=1) / (150 * v.mean() ** 2))
    ratio = v.mean() / c.mean()
    assert r.effect.ratio == pytest.approx(ratio) and r.effect.ratio_ci is not None
    assert r.effect.ratio_ci.low == pytest.approx(ratio / math.exp(1.959964 * se))
    assert r.effect.ratio_ci.high == pytest.approx(ratio * math.exp(1.959964 * se))
    skewed = g.lognormal(0, 2, 200)  # skewness far above sqrt(200 / 25)
    assert needs_bootstrap(skewed) and needs_bootstrap(c[:29]) and not needs_bootstrap(c)
    small = compare_mean("cost", c[:10], v[:10])
    assert small.test == "bootstrap_mean" and small.effect is not None
    assert small.effect.ci.low < small.effect.difference < small.effect.ci.high


def test_cost_per_million_tokens_is_a_ratio_of_sums_with_the_delta_method():
    cost_c, tok_c = np.full(40, 2.0), np.full(40, 1000.0)
    cost_v, tok_v = np.tile([3.0, 1.0], 20), np.tile([1000.0, 1000.0], 20)
    r = compare_ratio_of_sums("cost_per_mtok", (cost_c, tok_c), (cost_v, tok_v))
    assert (
        r.effect is not None
        and r.effect.control == pytest.approx(2000.0)
        and r.effect.variant == pytest.approx(2000.0)
    )
    # variant: residuals +-1 (var 40/39), se = sqrt(40/39 / (40 * 1000^2)) * 1e6
    se = math.sqrt(40 / 39 / 40) / 1000 * 1e6
    assert r.effect.ci.high == pytest.approx(
        stats.norm.isf(0.025) * se
    ) and r.p_value == pytest.approx(1.0)


@pytest.mark.parametrize(
    "control,variant,low,high",
    [
        ((48, 80), (56, 70), 0.0524, 0.3339),
        ((3, 10), (9, 10), 0.1705, 0.8090),
        ((0, 20), (0, 10), -0.1611, 0.2775),
    ],
)
def test_newcombe_interval_is_newcombes_table_ii(control, variant, low, high):
    ci = newcombe_interval(control, variant)
    assert (round(ci.low, 4), round(ci.high, 4)) == (low, high)


def test_rates_use_the_pooled_z_test_or_fisher_for_small_counts():
    r = compare_rate("error_rate", (48, 80), (56, 70))
    pooled = 104 / 150
    z = (56 / 70 - 48 / 80) / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert r.test == "two_proportion_chi2" and r.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert r.verdict is Verdict.WORSE
    small = compare_rate("error_rate", (0, 80), (3, 70))
    assert small.test == "fisher_exact" and small.p_value == pytest.approx(
        stats.fisher_exact([[3, 67], [0, 80]]).pvalue
    )
    none = compare_rate("error_rate", (0, 50), (0, 50))
    assert (
        none.p_value == 1.0
        and none.verdict is Verdict.NO_DIFFERENCE
        and none.effect is not None
        and none.effect.ratio is None
    )


def test_wilcoxon_pairs_have_scipys_p_and_the_walsh_average_interval():
    c, v = np.array(C), np.array(V) - 0.5
    r = compare_paired("latency", c, v)
    d = v - c
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(20) for j in range(i, 20)])
    k = round(105 - stats.norm.isf(0.025) * math.sqrt(20 * 21 * 41 / 24))
    assert r.p_value == pytest.approx(stats.wilcoxon(d).pvalue)
    assert r.effect is not None and r.effect.difference == pytest.approx(np.median(walsh), abs=1e-9)
    assert (r.effect.ci.low, r.effect.ci.high) == pytest.approx(
        (walsh[k - 1], walsh[210 - k]), abs=1e-9
    )


def test_holm_on_a_known_list():
    # sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> raised to .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([]) == [] and holm([0.5]) == [0.5]
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, float("nan")])


def test_adjust_changes_verdicts_and_skips_metrics_without_data():
    worse = compare_rate("errors", (48, 80), (56, 70))  # p = 0.008
    borderline = compare_rate("length", (100, 1000), (128, 1000))  # p about 0.045
    empty = compare_rate("safety", (0, 0), (0, 10))
    assert (
        borderline.p_value is not None
        and borderline.p_value < 0.05
        and borderline.verdict is Verdict.WORSE
    )
    out = adjust([worse, borderline, empty])
    assert out[0].p_adjusted == pytest.approx(2 * worse.p_value) and out[0].verdict is Verdict.WORSE
    assert (
        out[1].p_adjusted == pytest.approx(borderline.p_value) and out[1].verdict is Verdict.WORSE
    )
    out = adjust([worse, borderline, compare_rate("x", (10, 100), (10, 100)), empty])
    assert out[1].verdict is Verdict.NO_DIFFERENCE and out[3] is empty


@pytest.mark.parametrize("n", [0, 1, 5])
def test_small_or_empty_arms_give_not_enough_data_never_nan(n):
    for r in (
        compare_latency("latency", C[:n], V),
        compare_quantile("latency", C, V[:n], 0.95),
        compare_mean("cost", C[:n], V[: max(n - 1, 0)]),
        compare_paired("latency", C[:n], V[:n]),
    ):
        assert r.verdict is Verdict.NOT_ENOUGH_DATA and r.effect is None and r.p_value is None
        assert r.reason is not None and "at least" in r.reason


def test_bad_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="NaN"):
        compare_latency("latency", [*C, float("nan")], V)
    with pytest.raises(ValueError, match="> 0"):
        compare_latency("latency", [*C, -1.0], V)
    with pytest.raises(ValueError, match="hits"):
        compare_rate("errors", (11, 10), (0, 10))
    with pytest.raises(ValueError, match="integers"):
        compare_rate("errors", (1.5, 10), (0, 10))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length"):
        compare_paired("latency", C, V[:-1])
    with pytest.raises(ValueError, match="1-D"):
        compare_mean("cost", [[1.0, 2.0]], V)


def test_constant_arms_give_exact_results_not_nan():
    same = compare_mean("cost", [0.0] * 10, [0.0] * 10)
    assert (
        same.p_value == 1.0
        and same.effect is not None
        and same.effect.ci.low == same.effect.ci.high == 0.0
    )
    assert same.verdict is Verdict.NO_DIFFERENCE and same.effect.ratio is None
    pairs = compare_paired("tokens", [5.0] * 12, [5.0] * 12)
    assert pairs.p_value == 1.0 and pairs.effect is not None and pairs.effect.difference == 0.0
    one_off = compare_paired("tokens", [5.0] * 30, [5.0] * 29 + [6.0])
    assert one_off.effect is not None and one_off.effect.difference == 0.0
    assert (one_off.effect.ci.low, one_off.effect.ci.high) == (0.0, 0.0)


def test_the_sequence_is_joharis_mixture_sprt_and_p_below_alpha_is_zero_outside():
    cfg = SequentialConfig(alpha=0.05, planned_n=4000)
    theta, v, n = 0.09, 0.001, np.array([4000.0])
    half, p = sequence(np.array([theta]), np.array([v]), n, cfg)
    c = -2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))
    tau2 = c * v  # at n = planned_n, the mixing variance is c times V
    lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * theta**2 / (2 * v * (v + tau2)))
    assert p[0] == pytest.approx(1 / lam)
    assert half[0] == pytest.approx(
        math.sqrt(v * (v + tau2) / tau2 * (math.log((v + tau2) / v) - 2 * math.log(0.05)))
    )
    g = np.random.default_rng(0)
    d, var, ns = (
        g.normal(0, 0.05, 500),
        g.uniform(1e-4, 1e-3, 500),
        g.integers(100, 8000, 500).astype(float),
    )
    half, p = sequence(d, var, ns, cfg)
    assert np.array_equal(p < 0.05, np.abs(d) > half)


def test_look_waits_for_min_n_and_running_keeps_the_tightest():
    cfg = SequentialConfig(min_n=30)
    g = np.random.default_rng(1)
    a, b = g.normal(0, 1, 200), g.normal(0, 1, 200)
    assert look(Summary.of(a[:29]), Summary.of(b), cfg) is None
    looks = [look(Summary.of(a[:n]), Summary.of(b[:n]), cfg) for n in (50, 100, 200)]
    assert all(lk is not None for lk in looks)
    interval, p = running([lk for lk in looks if lk is not None])
    assert interval.low == max(lk.interval.low for lk in looks if lk) and p == min(
        lk.p_value for lk in looks if lk
    )


def test_gate_fails_a_slow_canary_passes_a_tolerable_one_and_waits_on_little_data():
    g = np.random.default_rng(4)
    c = g.lognormal(0, 0.5, 2000)
    slow = gate(c, g.lognormal(math.log(1.25), 0.5, 2000), 0.10, log_scale=True)
    assert (
        slow.decision is Decision.FAIL
        and slow.regression_low is not None
        and slow.regression_low > math.log(1.1)
    )
    fine = gate(c, g.lognormal(math.log(1.02), 0.5, 2000), 0.10, log_scale=True)
    assert (
        fine.decision is Decision.PASS
        and fine.regression_high is not None
        and fine.regression_high < math.log(1.1)
    )
    assert gate(c[:50], c[50:100], 0.10, log_scale=True).decision is Decision.CONTINUE
    errors = gate(Summary.of_rate(20, 2000), Summary.of_rate(80, 2000), 0.01)
    assert errors.decision is Decision.FAIL
    throughput = gate(c, c * 1.5, 0.10, log_scale=True, direction=Direction.HIGHER_IS_BETTER)
    assert throughput.decision is Decision.PASS
    with pytest.raises(ValueError, match="log"):
        gate(Summary.of(c), Summary.of(c), 0.1, log_scale=True)
