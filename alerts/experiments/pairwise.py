"""Order statistics of all pairwise differences (two samples) and of all Walsh averages
(one sample), without building the n*m or n(n+1)/2 values: the Hodges-Lehmann estimators
and the distribution-free intervals that invert Mann-Whitney and Wilcoxon.

Each is found by bisection on the value: counting the pairs at or below t takes one
`searchsorted` (O(n log n)), so memory stays O(n) at any sample size. The bisection stops
within 1e-12 of the data's range, and the result is then snapped down to the largest
pair value at or below it: an actual difference (or Walsh average), exact unless two of
them lie closer than that."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

_Counter = Callable[[NDArray[np.float64]], NDArray[np.int64]]
_REL_TOL = 1e-12


def kth_differences(
    x: NDArray[np.float64], y: NDArray[np.float64], ks: NDArray[np.int64]
) -> NDArray[np.float64]:
    """The ks-th smallest (1-based) of the len(x)*len(y) differences y_j - x_i."""
    xs, ys = np.sort(x), np.sort(y)

    def count(t: NDArray[np.float64]) -> NDArray[np.int64]:
        return np.searchsorted(ys, xs[None, :] + t[:, None], side="right").sum(axis=1)

    def snap(t: NDArray[np.float64]) -> NDArray[np.float64]:
        j = np.searchsorted(ys, xs[None, :] + t[:, None], side="right") - 1
        vals = np.where(j >= 0, ys[np.maximum(j, 0)] - xs[None, :], -np.inf)
        return vals.max(axis=1)

    return snap(_bisect(count, ys[0] - xs[-1], ys[-1] - xs[0], ks))


def kth_walsh(d: NDArray[np.float64], ks: NDArray[np.int64]) -> NDArray[np.float64]:
    """The ks-th smallest (1-based) of the n(n+1)/2 Walsh averages (d_i + d_j)/2, i <= j."""
    ds = np.sort(d)
    start = np.arange(ds.size)

    def count(t: NDArray[np.float64]) -> NDArray[np.int64]:
        upto = np.searchsorted(ds, 2 * t[:, None] - ds[None, :], side="right")
        return np.clip(upto - start[None, :], 0, None).sum(axis=1)

    def snap(t: NDArray[np.float64]) -> NDArray[np.float64]:
        j = np.searchsorted(ds, 2 * t[:, None] - ds[None, :], side="right") - 1
        vals = np.where(j >= start[None, :], (ds[None, :] + ds[np.maximum(j, 0)]) / 2, -np.inf)
        return vals.max(axis=1)

    return snap(_bisect(count, ds[0], ds[-1], ks))


def _bisect(count: _Counter, lo: float, hi: float, ks: NDArray[np.int64]) -> NDArray[np.float64]:
    """The smallest t in [lo, hi] with count(t) >= k, for each k (vectorised over ks)."""
    lows = np.full(ks.shape, lo, dtype=np.float64)
    highs = np.full(ks.shape, hi, dtype=np.float64)
    tol = _REL_TOL * max(hi - lo, abs(hi), abs(lo), 1e-300)
    while np.any(highs - lows > tol):
        mid = (lows + highs) / 2
        reached = count(mid) >= ks
        highs = np.where(reached, mid, highs)
        lows = np.where(reached, lows, mid)
    return highs
