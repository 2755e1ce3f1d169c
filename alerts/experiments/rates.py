"""Rates (error rate, a safety filter's hit rate, the share of a finish reason such as
`length`): the difference of two proportions with Newcombe's hybrid score interval
(method 10 of Newcombe 1998: the square-and-add of each arm's Wilson interval) and the
two-proportion test: Pearson's chi-square without continuity correction (the pooled z
test squared), or Fisher's exact test when any expected count is under 5."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from alerts.experiments.result import (
    Comparison,
    Direction,
    Effect,
    Interval,
    finished,
    not_enough_data,
)

MIN_EXPECTED = 5  # Cochran's rule for the chi-square approximation


def wilson(hits: int, n: int, level: float = 0.95) -> Interval:
    """Wilson's score interval for one proportion (scipy's binomtest)."""
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=level, method="wilson")
    return Interval(float(ci.low), float(ci.high))


def newcombe_interval(
    control: tuple[int, int], variant: tuple[int, int], level: float = 0.95
) -> Interval:
    """Newcombe's hybrid score interval of p_variant - p_control, from (hits, n) per arm."""
    (hc, nc), (hv, nv) = control, variant
    pc, pv = hc / nc, hv / nv
    wc, wv = wilson(hc, nc, level), wilson(hv, nv, level)
    d = pv - pc
    low = d - math.hypot(pv - wv.low, wc.high - pc)
    high = d + math.hypot(wv.high - pv, pc - wc.low)
    return Interval(low, high)


def two_proportion_test(control: tuple[int, int], variant: tuple[int, int]) -> tuple[str, float]:
    """(test name, two-sided p-value): chi-square, or Fisher's exact for small counts."""
    table = np.array([[variant[0], variant[1] - variant[0]], [control[0], control[1] - control[0]]])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if expected.min() < MIN_EXPECTED:
        return "fisher_exact", float(stats.fisher_exact(table).pvalue)
    res = stats.chi2_contingency(table, correction=False)
    return "two_proportion_chi2", float(res.pvalue)


def compare_rate(
    metric: str,
    control: tuple[int, int],
    variant: tuple[int, int],
    *,
    direction: Direction = Direction.LOWER_IS_BETTER,
) -> Comparison:
    """Compare two rates given as (hits, n) per arm. An arm with n = 0 gives a
    NOT_ENOUGH_DATA result; counts that are not integers with 0 <= hits <= n are a
    ValueError."""
    for arm, counts in (("control", control), ("variant", variant)):
        _check(metric, arm, counts)
    n = (control[1], variant[1])
    if min(n) == 0:
        return not_enough_data(metric, "two_proportion", direction, n, "an arm has no requests")
    test, p = two_proportion_test(control, variant)
    pc, pv = control[0] / control[1], variant[0] / variant[1]
    effect = Effect(
        "rate", pc, pv, pv - pc, newcombe_interval(control, variant), pv / pc if pc > 0 else None
    )
    return finished(metric, test, direction, n, effect, p, pv - pc)


def _check(metric: str, arm: str, counts: tuple[int, int]) -> None:
    hits, n = counts
    if not all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in counts):
        raise ValueError(f"{metric} {arm}: counts must be integers, got {counts!r}")
    if not 0 <= hits <= n:
        raise ValueError(f"{metric} {arm}: need 0 <= hits <= n, got hits={hits} n={n}")
