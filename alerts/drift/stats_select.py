"""Evidently's default test selection, and running one test on two windows of a feature.

Selection matched against evidently's calculations/stattests/registry.py
(`_get_default_stattest`): with n_values the unique non-NaN values of both windows,
- reference <= 1000 rows: numerical -> ks when n_values > 5, else chisquare when
  n_values > 2, else z; categorical -> chisquare when n_values > 2, else z;
- reference > 1000 rows: numerical -> wasserstein when n_values > 5, else
  jensenshannon; categorical -> jensenshannon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alerts.drift import stats

COUNT_TESTS = {
    "chisquare": stats.chisquare_counts,
    "z": stats.ztest_counts,
    "jensenshannon": stats.jensenshannon_counts,
    "psi": stats.psi_counts,
}
VALUE_TESTS = {"ks": stats.ks, "wasserstein": stats.wasserstein_norm}
NUMERICAL_ONLY = frozenset(VALUE_TESTS)


def select_test(ref: pd.Series, cur: pd.Series, kind: str) -> str:
    """Evidently's default test for a feature of `kind` ("num" or "cat")."""
    if kind not in ("num", "cat"):
        raise ValueError(f"feature kind must be 'num' or 'cat', not {kind!r}")
    n_values = distinct_up_to(ref, cur, 6)
    if len(ref) <= 1000:
        if kind == "num" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "num" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def distinct_up_to(ref: pd.Series, cur: pd.Series, limit: int) -> int:
    """Distinct non-NaN values of both windows, exact up to `limit` (more: some n >= limit).

    The selection only asks whether there are more than 5, so a head of each window
    usually answers without hashing every value.
    """
    if isinstance(ref.dtype, pd.CategoricalDtype) or isinstance(cur.dtype, pd.CategoricalDtype):
        return len(set(ref.dropna().unique()) | set(cur.dropna().unique()))
    head = pd.concat([ref.iloc[:1000], cur.iloc[:1000]]).nunique()
    if head >= limit:
        return int(head)
    return int(pd.concat([ref, cur]).nunique())


def binned_counts(
    ref: pd.Series, cur: pd.Series, kind: str, bins: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin (numerical, > 20 reference values) or per category, as Evidently bins.

    `bins` None is Evidently's Sturges rule over both windows; an int fixes the count.
    """
    if kind == "num" and ref.nunique() > 20:
        both = np.concatenate([ref.to_numpy(float), cur.to_numpy(float)])
        edges = np.histogram_bin_edges(both, bins="sturges" if bins is None else bins)
        return (
            np.histogram(ref, edges)[0].astype(float),
            np.histogram(cur, edges)[0].astype(float),
        )
    return stats.category_counts(ref, cur)


def run_test(
    test: str,
    ref: pd.Series,
    cur: pd.Series,
    kind: str,
    threshold: float | None = None,
    bins: int | None = None,
) -> stats.TestResult:
    """Run `test` on two NaN-free windows; threshold None is Evidently's default."""
    if test not in stats.DEFAULT_THRESHOLDS:
        raise ValueError(f"unknown drift test {test!r}; known: {sorted(stats.DEFAULT_THRESHOLDS)}")
    if test in NUMERICAL_ONLY and kind != "num":
        raise ValueError(f"test {test!r} applies to numerical features only")
    if len(ref) == 0 or len(cur) == 0:
        raise ValueError("both windows need at least one value")
    if test in VALUE_TESTS:
        value = VALUE_TESTS[test](ref.to_numpy(float), cur.to_numpy(float))
    else:
        value = COUNT_TESTS[test](*binned_counts(ref, cur, kind, bins))
    limit = stats.DEFAULT_THRESHOLDS[test] if threshold is None else threshold
    return stats.TestResult(test=test, statistic=value, threshold=limit)
