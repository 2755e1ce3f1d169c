"""Always-valid inference for a difference of means, so a canary can be looked at after
every batch without the peeking problem: a confidence sequence that covers the true
difference at every look at once with probability >= 1 - alpha (asymptotically), and the
always-valid p-value that goes with it.

The sequence is the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy and Ramdas ("Time-uniform central limit theory and asymptotic confidence
sequences", 2021, eq. 2.6 with Robbins' normal mixture), applied to the difference of two
arms' means with the plug-in variance V = s_c^2/n_c + s_v^2/n_v. In the paper's terms,
t rho^2 = x = c n / n_planned, where c = -2 log(alpha) + log(1 - 2 log(alpha)) makes the
sequence tightest at n_planned observations (both arms). Then

    half-width = sqrt(V (1 + x) / x * (log(1 + x) - 2 log(alpha)))
    p          = min(1, sqrt(1 + x) exp(-x z^2 / (2 (1 + x)))),  z^2 = difference^2 / V

the mixture SPRT of Johari, Pekelis and Walsh (2017) with mixing variance x V: p < alpha
exactly when 0 lies outside the sequence. Valid as n grows with a fixed allocation ratio;
a canary that changes its weights starts a new sequence at each step. Latencies are
compared on a log scale (a difference of log means is a relative change), cost on its
own scale, rates as means of 0/1 outcomes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alerts.experiments.inputs import sample
from alerts.experiments.result import ALPHA, Interval


@dataclass(frozen=True)
class SequentialConfig:
    """alpha: the error over all looks together; planned_n: observations (both arms) at
    which the sequence is tightest; min_n: per arm, before which no look decides."""

    alpha: float = ALPHA
    planned_n: int = 4000
    min_n: int = 100

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or self.planned_n < 1 or self.min_n < 2:
            raise ValueError(f"need 0 < alpha < 1, planned_n >= 1, min_n >= 2: {self}")


@dataclass(frozen=True)
class Summary:
    """One arm so far: count, mean and variance (ddof 1), on a log scale when `log`."""

    n: int
    mean: float
    var: float
    log: bool = False

    @classmethod
    def of(cls, values: ArrayLike, *, log: bool = False) -> Summary:
        """Summarise a sample (logs of it when `log`; then values must be > 0)."""
        x = sample(values, "sequential sample", positive=log)
        x = np.log(x) if log else x
        var = float(x.var(ddof=1)) if x.size > 1 else 0.0
        return cls(int(x.size), float(x.mean()) if x.size else 0.0, var, log)

    @classmethod
    def of_rate(cls, hits: int, n: int) -> Summary:
        """A rate as the mean of n outcomes of 0 or 1, hits of them 1."""
        if not 0 <= hits <= n:
            raise ValueError(f"need 0 <= hits <= n, got hits={hits} n={n}")
        p = hits / n if n else 0.0
        return cls(n, p, p * (1 - p) * n / (n - 1) if n > 1 else 0.0)


@dataclass(frozen=True)
class Look:
    """One look: the difference of means (variant - control), the confidence sequence's
    interval at this look, and the always-valid p-value of no difference."""

    n_control: int
    n_variant: int
    difference: float
    interval: Interval
    p_value: float


def sequence(
    difference: NDArray[np.float64],
    variance: NDArray[np.float64],
    n: NDArray[np.float64],
    config: SequentialConfig,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(half-width, p-value) of the confidence sequence, elementwise over arrays of looks
    (the simulations call it on whole experiments at once). Variance must be > 0."""
    log_alpha = math.log(config.alpha)
    c = -2 * log_alpha + math.log(1 - 2 * log_alpha)
    x = c * np.asarray(n, dtype=np.float64) / config.planned_n
    half = np.sqrt(variance * (1 + x) / x * (np.log1p(x) - 2 * log_alpha))
    z2 = np.square(difference) / variance
    log_p = 0.5 * np.log1p(x) - x * z2 / (2 * (1 + x))
    return half, np.exp(np.minimum(log_p, 0.0))


def look(control: Summary, variant: Summary, config: SequentialConfig) -> Look | None:
    """The look at both arms so far; None while either arm has under `config.min_n`
    observations or no spread (no estimate of the variance yet)."""
    if control.log != variant.log:
        raise ValueError("both arms must be summarised on the same scale (log or not)")
    var = control.var / max(control.n, 1) + variant.var / max(variant.n, 1)
    if min(control.n, variant.n) < config.min_n or var <= 0:
        return None
    diff = variant.mean - control.mean
    half, p = sequence(np.array([diff]), np.array([var]), np.array([control.n + variant.n]), config)
    h = float(half[0])
    return Look(control.n, variant.n, diff, Interval(diff - h, diff + h), float(p[0]))


def running(looks: list[Look]) -> tuple[Interval, float]:
    """The intersection of the intervals and the smallest p-value over a run's looks (both
    still valid at the given alpha, and never looser than the latest look)."""
    if not looks:
        raise ValueError("no looks")
    low = max(lk.interval.low for lk in looks)
    high = min(lk.interval.high for lk in looks)
    return Interval(low, max(low, high)), min(lk.p_value for lk in looks)
