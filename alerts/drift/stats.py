"""Per-feature drift tests, with Evidently's statistics computed by SciPy.

Matched against evidentlyai/evidently, src/evidently/calculations/stattests/:
- ks_stattest.py: `scipy.stats.ks_2samp(ref, cur)` p-value, drift when p < 0.05.
- chisquare_stattest.py: `scipy.stats.chisquare(f_obs=current counts, f_exp=reference
  counts * n_cur / n_ref)` over the union of categories (NaN dropped), drift when p < 0.05.
- z_stattest.py: two-proportion z-test of the first category in sorted order, two-sided
  normal p-value; p = 1 when both windows hold the same single value.
- wasserstein_distance_norm.py: `wasserstein_distance(ref, cur) / max(std(ref), 0.001)`
  (numpy's population std), drift when >= 0.1.
- jensenshannon.py: `scipy.spatial.distance.jensenshannon(p_ref, p_cur, base=2)` over the
  binned shares without zero filling, drift when >= 0.1.
- psi.py: sum((p_ref - p_cur) * ln(p_ref / p_cur)) over the binned shares with zeros
  filled, drift when >= 0.1.
- utils.get_binned_data: a numerical column with more than 20 unique reference values
  is binned by `np.histogram_bin_edges(both windows, bins="sturges")`; anything else by
  its values. Zero shares are filled with min(nonzero share) / 1e6 when that minimum is
  <= 1e-4, else with 1e-4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})
DISTANCE_TESTS = frozenset({"wasserstein", "jensenshannon", "psi"})
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}


@dataclass(frozen=True)
class TestResult:
    """One test's outcome: a p-value (drift when below) or a distance (drift when at or over)."""

    __test__ = False  # not a pytest class

    test: str
    statistic: float
    threshold: float

    @property
    def kind(self) -> str:
        """ "p_value" or "distance": which side of the threshold is drift."""
        return "p_value" if self.test in P_VALUE_TESTS else "distance"

    @property
    def drifted(self) -> bool:
        """Evidently's verdict: p < threshold for p-value tests, distance >= threshold."""
        if self.kind == "p_value":
            return bool(self.statistic < self.threshold)
        return bool(self.statistic >= self.threshold)


def ks(ref: np.ndarray, cur: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value."""
    return float(stats.ks_2samp(ref, cur).pvalue)


def wasserstein_norm(ref: np.ndarray, cur: np.ndarray) -> float:
    """Wasserstein-1 distance divided by the reference's std (floored at 0.001, as Evidently).

    Computed on values divided by their largest magnitude (W1 and std scale alike), so
    values near the float limit give the same result instead of an overflowing std.
    """
    scale = max(1.0, float(np.max(np.abs(ref))), float(np.max(np.abs(cur))))
    return float(stats.wasserstein_distance(ref / scale, cur / scale) / norm(ref / scale, scale))


def norm(scaled_ref: np.ndarray, scale: float) -> float:
    """Evidently's divisor max(std, 0.001), for a reference already divided by `scale`."""
    return max(float(np.std(scaled_ref)), 0.001 / scale)


def category_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each window over the union of categories (NaN dropped), in one order."""
    r, c = ref.value_counts(sort=False), cur.value_counts(sort=False)
    keys = r.index.union(c.index)
    ref_counts = r.reindex(keys, fill_value=0).to_numpy(float)
    cur_counts = c.reindex(keys, fill_value=0).to_numpy(float)
    seen = (ref_counts + cur_counts) > 0  # a categorical dtype lists unseen categories too
    return ref_counts[seen], cur_counts[seen]


def chisquare_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Evidently's chi-squared p-value: current counts against reference shares."""
    f_exp = ref_counts * (cur_counts.sum() / ref_counts.sum())
    keep = f_exp > 0  # a category unseen in the reference has no expectation: p is 0 there
    if not keep.all() and cur_counts[~keep].sum() > 0:
        return 0.0
    return float(stats.chisquare(cur_counts[keep], f_exp[keep]).pvalue)


def ztest_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Two-proportion z-test p-value on the first category (one or two categories)."""
    if len(ref_counts) < 2:
        return 1.0
    n1, n2 = ref_counts.sum(), cur_counts.sum()
    p1, p2 = ref_counts[0] / n1, cur_counts[0] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 1.0 if se == 0 else float(2 * stats.norm.sf(abs(p1 - p2) / se))


def jensenshannon_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) of the two share vectors."""
    return float(distance.jensenshannon(ref_counts, cur_counts, base=2))


def fill_zeros(shares: np.ndarray) -> np.ndarray:
    """Evidently's zero filling of bin shares before PSI."""
    nonzero = shares[shares > 0]
    if nonzero.size == 0:
        return shares
    low = nonzero.min()
    return np.where(shares == 0, low / 1e6 if low <= 1e-4 else 1e-4, shares)


def psi_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of the two count vectors, zeros filled as Evidently."""
    ref = fill_zeros(ref_counts / ref_counts.sum())
    cur = fill_zeros(cur_counts / cur_counts.sum())
    return float(np.sum((ref - cur) * np.log(ref / cur)))
