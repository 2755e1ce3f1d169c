"""Holm's step-down correction (Holm 1979) across the metrics of one comparison: it holds
the family-wise error rate at alpha under any dependence between the metrics."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.experiments.result import ALPHA, Comparison


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: the i-th smallest p times (m - i + 1),
    made non-decreasing along the sorted order, capped at 1."""
    for p in p_values:
        if not 0 <= p <= 1:
            raise ValueError(f"p-values lie in [0, 1], got {p}")
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def adjust(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """The comparisons with Holm-adjusted p-values and the verdicts they give. Those
    without a p-value (not enough data) are left as they are and do not count in m."""
    tested = [i for i, c in enumerate(comparisons) if c.p_value is not None]
    adjusted = holm([comparisons[i].p_value or 0.0 for i in tested])
    out = list(comparisons)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = comparisons[i].with_adjusted(p, alpha)
    return out
