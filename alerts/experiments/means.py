"""Mean cost per request: Welch's t, or the bootstrap when an arm is small or too skewed
for the t (cost per 1M tokens, a ratio of sums, is in per_token).

The rule for the bootstrap (Cochran 1977, sec. 2.15): the sample mean of an arm is close
enough to normal for a t interval when n >= 25 * g1^2, g1 the arm's sample skewness; and
n >= 30 in any case. Below that, in either arm, the percentile bootstrap of the
difference of means (scipy.stats.bootstrap, fixed seed) gives the interval and the
p-value (twice the smaller tail beyond 0)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from alerts.experiments.inputs import sample, too_small
from alerts.experiments.quantiles import SEED, percentile_p_value
from alerts.experiments.result import (
    Z95,
    Comparison,
    Direction,
    Effect,
    Interval,
    finished,
    not_enough_data,
)

MIN_N = 5  # per arm: below it neither the t nor the bootstrap says anything
T_MIN_N = 30
BOOTSTRAP_RESAMPLES = 4000  # tail error sqrt(.025*.975/4000) = 0.25 points
BOOTSTRAP_BATCH = 250  # resamples held at once: memory 250 * n floats per arm, not 4000 * n


def needs_bootstrap(x: NDArray[np.float64]) -> bool:
    """Whether Cochran's rule (n >= max(30, 25 g1^2)) rules out the t for this arm."""
    if x.size < T_MIN_N:
        return True
    if np.ptp(x) == 0:
        return False  # no spread, no skew
    return x.size < 25 * float(stats.skew(x)) ** 2


def compare_mean(
    metric: str,
    control: ArrayLike,
    variant: ArrayLike,
    *,
    direction: Direction = Direction.LOWER_IS_BETTER,
    min_n: int = MIN_N,
    seed: int = SEED,
) -> Comparison:
    """The difference of means (variant - control) with a 95% interval and p-value, by
    Welch's t or by the bootstrap (see the module's rule); the ratio of means beside it."""
    c, v = sample(control, f"{metric} control"), sample(variant, f"{metric} variant")
    n = (c.size, v.size)
    test = "bootstrap_mean" if needs_bootstrap(c) or needs_bootstrap(v) else "welch_t"
    if (why := too_small(*n, min_n)) is not None:
        return not_enough_data(metric, test, direction, n, why)
    diff = float(v.mean() - c.mean())
    if np.ptp(c) == 0 and np.ptp(v) == 0:  # both constant: the difference is known exactly
        low, high, p = diff, diff, float(diff == 0)
    elif test == "welch_t":
        low, high, p = _welch(c, v)
    else:
        low, high, p = _bootstrap(c, v, seed)
    ratio = float(v.mean() / c.mean()) if c.mean() > 0 else None
    ratio_ci = ratio_interval(c, v) if test == "welch_t" else None
    effect = Effect(
        "mean", float(c.mean()), float(v.mean()), diff, Interval(low, high), ratio, ratio_ci
    )
    return finished(metric, test, direction, n, effect, p, diff)


def ratio_interval(c: NDArray[np.float64], v: NDArray[np.float64]) -> Interval | None:
    """95% interval of mean(v) / mean(c) by the delta method on its log (independent arms:
    var log m = s^2 / (n m^2)); None unless both means are > 0. Beside Welch only: it rests
    on the same normality of the means."""
    mc, mv = float(c.mean()), float(v.mean())
    if mc <= 0 or mv <= 0:
        return None
    se = math.sqrt(c.var(ddof=1) / (c.size * mc**2) + v.var(ddof=1) / (v.size * mv**2))
    return Interval(mv / mc * math.exp(-Z95 * se), mv / mc * math.exp(Z95 * se))


def _welch(c: NDArray[np.float64], v: NDArray[np.float64]) -> tuple[float, float, float]:
    res = stats.ttest_ind(v, c, equal_var=False)
    ci = res.confidence_interval(0.95)
    return float(ci.low), float(ci.high), float(res.pvalue)


def _bootstrap(
    c: NDArray[np.float64], v: NDArray[np.float64], seed: int
) -> tuple[float, float, float]:
    def mean_difference(
        v_: NDArray[np.float64], c_: NDArray[np.float64], axis: int = -1
    ) -> NDArray[np.float64]:
        return np.mean(v_, axis=axis) - np.mean(c_, axis=axis)

    res = stats.bootstrap(
        (v, c),
        mean_difference,
        n_resamples=BOOTSTRAP_RESAMPLES,
        batch=BOOTSTRAP_BATCH,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    dist = np.asarray(res.bootstrap_distribution)
    return (
        float(res.confidence_interval.low),
        float(res.confidence_interval.high),
        percentile_p_value(dist),
    )
