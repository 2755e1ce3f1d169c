"""The typed result of one metric's comparison, and the verdict rule shared by every test."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from scipy import stats

ALPHA = 0.05
Z95 = float(stats.norm.isf(ALPHA / 2))  # the two-sided 95% normal quantile, 1.96


class Direction(enum.Enum):
    """Which way is good for a metric: latency, cost and error rate are LOWER_IS_BETTER."""

    LOWER_IS_BETTER = "lower_is_better"
    HIGHER_IS_BETTER = "higher_is_better"


class Verdict(enum.Enum):
    """The variant against the control, after the multiple-testing correction."""

    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no_difference"
    NOT_ENOUGH_DATA = "not_enough_data"


@dataclass(frozen=True)
class Interval:
    """A 95% confidence interval (low <= high)."""

    low: float
    high: float

    def excludes(self, value: float) -> bool:
        """Whether `value` lies outside the interval."""
        return value < self.low or value > self.high


@dataclass(frozen=True)
class Effect:
    """An effect of the variant against the control: `difference` (variant - control) and,
    where a ratio makes sense, `ratio` (variant / control), each with its interval."""

    estimand: str  # what is compared: "median", "p95", "mean", "rate", "shift", ...
    control: float
    variant: float
    difference: float
    ci: Interval
    ratio: float | None = None
    ratio_ci: Interval | None = None


@dataclass(frozen=True)
class Comparison:
    """One metric's comparison. `effect` is the headline effect; `extra` holds further
    effects (the p50 and p95 differences beside a Mann-Whitney shift). When an arm lacks
    data, `verdict` is NOT_ENOUGH_DATA, `reason` says why and effect and p-values are None
    (never NaN). `sign` is the direction the test itself saw (+1: variant larger)."""

    metric: str
    test: str
    direction: Direction
    n_control: int
    n_variant: int
    effect: Effect | None
    p_value: float | None
    p_adjusted: float | None
    verdict: Verdict
    sign: int = 0
    extra: tuple[Effect, ...] = ()
    reason: str | None = None

    def with_adjusted(self, p_adjusted: float, alpha: float = ALPHA) -> Comparison:
        """This comparison with a corrected p-value, and the verdict it gives."""
        verdict = decide(p_adjusted, self.sign, self.direction, alpha)
        return replace(self, p_adjusted=p_adjusted, verdict=verdict)


def decide(p_value: float, sign: int, direction: Direction, alpha: float = ALPHA) -> Verdict:
    """BETTER or WORSE when `p_value` < `alpha`, by the sign of the effect and the metric's
    direction; NO_DIFFERENCE otherwise."""
    if not p_value < alpha or sign == 0:
        return Verdict.NO_DIFFERENCE
    lower = sign < 0
    return Verdict.BETTER if lower == (direction is Direction.LOWER_IS_BETTER) else Verdict.WORSE


def finished(
    metric: str,
    test: str,
    direction: Direction,
    n: tuple[int, int],
    effect: Effect,
    p_value: float,
    sign: float,
    extra: tuple[Effect, ...] = (),
) -> Comparison:
    """A comparison with its verdict at the unadjusted p-value (Holm later replaces it)."""
    if not (math.isfinite(p_value) and math.isfinite(effect.difference)):
        raise ValueError(f"{metric}: the {test} test gave a non-finite result")
    s = int(math.copysign(1, sign)) if sign != 0 else 0
    return Comparison(
        metric,
        test,
        direction,
        n[0],
        n[1],
        effect,
        p_value,
        None,
        decide(p_value, s, direction),
        s,
        extra,
    )


def not_enough_data(
    metric: str, test: str, direction: Direction, n: tuple[int, int], reason: str
) -> Comparison:
    """The result for arms too small to compare: no effect, no p-value, and why."""
    return Comparison(
        metric,
        test,
        direction,
        n[0],
        n[1],
        None,
        None,
        None,
        Verdict.NOT_ENOUGH_DATA,
        reason=reason,
    )
