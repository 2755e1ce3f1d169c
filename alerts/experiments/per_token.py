"""Cost per 1M tokens: a ratio of sums, sum(cost) / sum(tokens), compared between arms by
the delta method (Deng, Knoblich and Lu 2018, "Applying the delta method in metric
analytics"): a z test and a normal 95% interval of the difference."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from alerts.experiments.inputs import sample, too_small
from alerts.experiments.result import (
    Z95,
    Comparison,
    Direction,
    Effect,
    Interval,
    finished,
    not_enough_data,
)

MIN_N = 30  # per arm: the delta method is a large-sample normal approximation


def compare_ratio_of_sums(
    metric: str,
    control: tuple[ArrayLike, ArrayLike],
    variant: tuple[ArrayLike, ArrayLike],
    *,
    scale: float = 1e6,
    direction: Direction = Direction.LOWER_IS_BETTER,
    min_n: int = MIN_N,
) -> Comparison:
    """Cost per `scale` tokens of each arm, sum(cost) / sum(tokens) * scale, from
    (costs, tokens) per request; the difference by the delta method (Deng, Knoblich and Lu
    2018, "Applying the delta method in metric analytics"), a z test, a normal interval."""
    (cc, ct), (vc, vt) = (_pair(metric, "control", *control), _pair(metric, "variant", *variant))
    n = (cc.size, vc.size)
    if (why := too_small(*n, min_n)) is not None:
        return not_enough_data(metric, "delta_method_z", direction, n, why)
    (rc, var_c), (rv, var_v) = _ratio(cc, ct), _ratio(vc, vt)
    diff, se = (rv - rc) * scale, math.sqrt(var_c + var_v) * scale
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
    effect = Effect(
        "ratio_of_sums",
        rc * scale,
        rv * scale,
        diff,
        Interval(diff - Z95 * se, diff + Z95 * se),
        rv / rc if rc > 0 else None,
    )
    return finished(metric, "delta_method_z", direction, n, effect, p, diff)


def _pair(
    metric: str, arm: str, costs: ArrayLike, tokens: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    c, t = sample(costs, f"{metric} {arm} costs"), sample(tokens, f"{metric} {arm} tokens")
    if c.size != t.size:
        raise ValueError(f"{metric} {arm}: {c.size} costs but {t.size} token counts")
    if t.size and (t.min() < 0 or t.sum() <= 0):
        raise ValueError(f"{metric} {arm}: token counts must be >= 0 with a positive sum")
    return c, t


def _ratio(cost: NDArray[np.float64], tokens: NDArray[np.float64]) -> tuple[float, float]:
    """R = mean(cost) / mean(tokens) and the delta method's variance of R."""
    r = float(cost.mean() / tokens.mean())
    residual = cost - r * tokens
    return r, float(residual.var(ddof=1) / (cost.size * tokens.mean() ** 2))
