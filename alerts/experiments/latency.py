"""Latencies (whole request, time to first token, time per output token): Mann-Whitney U
for the shift, with the Hodges-Lehmann shift and the interval that inverts the test as
its effect, and bootstrap intervals of the p50 and p95 differences and ratios beside it;
and a test of one quantile alone (a p95 regression that leaves the median in place)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from alerts.experiments import quantiles as qs
from alerts.experiments.inputs import sample, too_small
from alerts.experiments.pairwise import kth_differences
from alerts.experiments.result import (
    Z95,
    Comparison,
    Direction,
    Effect,
    Interval,
    finished,
    not_enough_data,
)

MIN_N = 20  # per arm: below it a p95 is one of the last values, and the intervals are noise


def compare_latency(
    metric: str,
    control: ArrayLike,
    variant: ArrayLike,
    *,
    direction: Direction = Direction.LOWER_IS_BETTER,
    min_n: int = MIN_N,
    seed: int = qs.SEED,
) -> Comparison:
    """Mann-Whitney U (two-sided) of variant against control. The effect is the
    Hodges-Lehmann shift (median of all variant - control differences) with its
    distribution-free 95% interval; `extra` holds the p50 and p95 effects (bootstrap)."""
    c, v = (
        sample(control, f"{metric} control", positive=True),
        sample(variant, f"{metric} variant", positive=True),
    )
    n = (c.size, v.size)
    if (why := too_small(*n, min_n)) is not None:
        return not_enough_data(metric, "mann_whitney_u", direction, n, why)
    test = stats.mannwhitneyu(v, c, alternative="two-sided")
    extra = tuple(quantile_effect(c, v, q, seed) for q in (0.5, 0.95))
    sign = float(test.statistic) - c.size * v.size / 2  # U of the variant: pairs it wins
    return finished(
        metric, "mann_whitney_u", direction, n, shift_effect(c, v), float(test.pvalue), sign, extra
    )


def compare_quantile(
    metric: str,
    control: ArrayLike,
    variant: ArrayLike,
    q: float,
    *,
    direction: Direction = Direction.LOWER_IS_BETTER,
    min_n: int = MIN_N,
    seed: int = qs.SEED,
) -> Comparison:
    """The difference of the q-quantiles alone, tested by the bootstrap: percentile
    interval and the two-sided bootstrap p-value of no difference."""
    c, v = (
        sample(control, f"{metric} control", positive=True),
        sample(variant, f"{metric} variant", positive=True),
    )
    n = (c.size, v.size)
    test = f"bootstrap_p{round(q * 100)}"
    if (why := too_small(*n, min_n)) is not None:
        return not_enough_data(metric, test, direction, n, why)
    draws = qs.bootstrap_quantiles(c, v, q, seed=seed)
    diff = draws.variant_draws - draws.control_draws
    effect = _quantile_effect(draws, q)
    return finished(
        metric, test, direction, n, effect, qs.percentile_p_value(diff), effect.difference
    )


def quantile_effect(
    c: NDArray[np.float64], v: NDArray[np.float64], q: float, seed: int = qs.SEED
) -> Effect:
    """The q-quantile difference and ratio (variant against control), bootstrap intervals."""
    return _quantile_effect(qs.bootstrap_quantiles(c, v, q, seed=seed), q)


def _quantile_effect(draws: qs.QuantileDraws, q: float) -> Effect:
    diff = draws.variant_draws - draws.control_draws
    ratio = draws.variant_draws / draws.control_draws  # latencies are > 0 (checked)
    return Effect(
        f"p{round(q * 100)}",
        draws.control,
        draws.variant,
        draws.variant - draws.control,
        Interval(*qs.percentile_interval(diff)),
        draws.variant / draws.control,
        Interval(*qs.percentile_interval(ratio)),
    )


def shift_effect(c: NDArray[np.float64], v: NDArray[np.float64]) -> Effect:
    """Hodges-Lehmann shift with the interval from the normal approximation of U's null
    distribution (Hollander and Wolfe, ch. 4): differences of rank k and mn + 1 - k. The
    arms' medians are its `control` and `variant`."""
    mn = c.size * v.size
    half = Z95 * math.sqrt(mn * (c.size + v.size + 1) / 12)
    k = int(min(max(round(mn / 2 - half), 1), mn))
    mids = [(mn + 1) // 2, mn // 2 + 1]  # the median's one or two order statistics
    low, high, m1, m2 = kth_differences(c, v, np.array([k, mn + 1 - k, *mids]))
    return Effect(
        "shift",
        float(np.median(c)),
        float(np.median(v)),
        float((m1 + m2) / 2),
        Interval(float(low), float(high)),
    )
