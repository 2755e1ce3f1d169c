"""Shadow pairs (the same prompt sent to both upstreams): Wilcoxon's signed-rank test of
the paired differences (variant - control), with the Hodges-Lehmann estimate (median of
the Walsh averages) and the distribution-free interval that inverts the test."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from alerts.experiments.inputs import sample, too_small
from alerts.experiments.pairwise import kth_walsh
from alerts.experiments.result import (
    Z95,
    Comparison,
    Direction,
    Effect,
    Interval,
    finished,
    not_enough_data,
)

MIN_N = 10  # pairs


def compare_paired(
    metric: str,
    control: ArrayLike,
    variant: ArrayLike,
    *,
    direction: Direction = Direction.LOWER_IS_BETTER,
    min_n: int = MIN_N,
) -> Comparison:
    """Wilcoxon signed-rank (two-sided; zero differences dropped, Wilcox's rule) of
    variant[i] - control[i]. Pairs of different lengths are a ValueError."""
    c, v = sample(control, f"{metric} control"), sample(variant, f"{metric} variant")
    if c.size != v.size:
        raise ValueError(f"{metric}: paired samples differ in length ({c.size} and {v.size})")
    n = (c.size, v.size)
    if (why := too_small(*n, min_n)) is not None:
        return not_enough_data(metric, "wilcoxon_signed_rank", direction, n, why)
    d = v - c
    effect = walsh_effect(c, v, d)
    if not np.any(d):  # every pair equal: no evidence of any difference, and scipy refuses
        return finished(metric, "wilcoxon_signed_rank", direction, n, effect, 1.0, 0.0)
    p = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
    return finished(metric, "wilcoxon_signed_rank", direction, n, effect, p, effect.difference)


def walsh_effect(c: NDArray[np.float64], v: NDArray[np.float64], d: NDArray[np.float64]) -> Effect:
    """Hodges-Lehmann estimate of the paired shift and its 95% interval: the Walsh averages
    of rank k and N + 1 - k, k from the normal approximation of the signed-rank statistic
    (Hollander and Wolfe, ch. 3); the arms' medians as `control` and `variant`."""
    m = d.size
    total = m * (m + 1) // 2
    half = Z95 * math.sqrt(m * (m + 1) * (2 * m + 1) / 24)
    k = int(min(max(round(total / 2 - half), 1), total))
    low, high, m1, m2 = kth_walsh(d, np.array([k, total + 1 - k, (total + 1) // 2, total // 2 + 1]))
    return Effect(
        "paired_shift",
        float(np.median(c)),
        float(np.median(v)),
        float((m1 + m2) / 2),
        Interval(float(low), float(high)),
    )
