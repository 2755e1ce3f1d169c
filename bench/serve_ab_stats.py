"""Paired-round statistics for bench/vllm_serve_ab.py: the ratio through-the-agent over
direct of one figure, with its 95% confidence interval. Pure: no I/O.

Each round pair gives one ratio; the interval is Student's t on the logs of the ratios
(a ratio's spread is multiplicative, and the log makes 0.98 and 1/0.98 equally far from 1).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class RatioCI:
    """The geometric mean of paired ratios and its 95% interval, over `n` pairs."""

    point: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """The interval's half width relative to the point (0.01 = ±1%)."""
        return (self.high - self.low) / 2 / self.point

    def text(self) -> str:
        return f"{self.point:.4f} [{self.low:.4f}, {self.high:.4f}] (±{self.half_width:.2%}, n={self.n})"


def paired_ratio(direct: list[float], through: list[float]) -> RatioCI | None:
    """`through[i] / direct[i]` summarised over the pairs; None with fewer than 2 pairs or a
    non-positive value (no ratio to take)."""
    if len(direct) != len(through):
        raise ValueError(f"{len(direct)} direct rounds against {len(through)} through the agent")
    if len(direct) < 2 or min(direct + through) <= 0:
        return None
    logs = [math.log(t / d) for d, t in zip(direct, through, strict=True)]
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    half = stats.t.ppf(0.975, len(logs) - 1) * sd / math.sqrt(len(logs))
    return RatioCI(math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(logs))


def verdict(ci: RatioCI | None, at_least: float) -> str:
    """'met' when the whole interval is at or above `at_least`, 'not met' when it is all
    below, 'undecided' when it straddles the bound (more rounds would tell)."""
    if ci is None:
        return "undecided (too few rounds)"
    if ci.low >= at_least:
        return "met"
    if ci.high < at_least:
        return "not met"
    return f"undecided (the interval straddles {at_least:g})"


def done(ci: RatioCI | None, min_pairs: int, target_half_width: float) -> bool:
    """Whether enough pairs have run: at least `min_pairs` and the interval narrow enough."""
    return ci is not None and ci.n >= min_pairs and ci.half_width <= target_half_width


def spread(direct: list[float], through: list[float]) -> str:
    """A line on how far single pairs wander: the interval narrows only as their spread
    allows (pairs needed for ±1%: (1.96 sd / 0.01)^2, sd of the log ratios)."""
    ratios = sorted(t / d for d, t in zip(direct, through, strict=True))
    q = statistics.quantiles(ratios, n=4)
    sd = statistics.stdev(math.log(r) for r in ratios)
    return (
        f"Tokens/s ratio of single pairs: min {ratios[0]:.3f}, quartiles {q[0]:.3f} / "
        f"{q[1]:.3f} / {q[2]:.3f}, max {ratios[-1]:.3f}; sd of the log ratios {sd:.3f}, "
        f"so ±1% needs about {math.ceil((1.96 * sd / 0.01) ** 2)} pairs."
    )
