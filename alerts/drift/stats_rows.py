"""Drift statistics of many count-row pairs at once, for the bootstrap null.

Each function is the vectorised twin of one in stats.py (the unit tests hold them equal).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def shares(counts: np.ndarray) -> np.ndarray:
    """Row-wise shares of count rows (rows summing to zero stay zero)."""
    total = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts, dtype=float), where=total > 0)


def _xlogy_ratio(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    safe = np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)
    return np.where(p > 0, p * np.log2(safe), 0.0)


def js_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) of each row pair, as scipy computes one pair."""
    p, q = shares(ref), shares(cur)
    m = (p + q) / 2
    div = (_xlogy_ratio(p, m).sum(-1) + _xlogy_ratio(q, m).sum(-1)) / 2
    return np.sqrt(np.maximum(div, 0.0))


def psi_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """PSI of each row pair with Evidently's zero filling (per row)."""
    r, c = fill_zero_rows(shares(ref)), fill_zero_rows(shares(cur))
    return np.sum((r - c) * np.log(r / c), axis=-1)


def fill_zero_rows(p: np.ndarray) -> np.ndarray:
    """Evidently's zero filling (see stats.fill_zeros) applied to each row."""
    low = np.where(p > 0, p, np.inf).min(axis=-1, keepdims=True)
    fill = np.where(low <= 1e-4, low / 1e6, 1e-4)
    return np.where(p == 0, fill, p)


def neg_log_chisquare_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """-ln of Evidently's chi-squared p-value for each row pair (inf: unseen category)."""
    exp = ref * (cur.sum(-1, keepdims=True) / ref.sum(-1, keepdims=True))
    keep = exp > 0
    terms = np.where(keep, (cur - exp) ** 2 / np.where(keep, exp, 1.0), 0.0)
    dof = keep.sum(-1) - 1
    with np.errstate(divide="ignore"):
        p = np.where(dof > 0, stats.chi2.sf(terms.sum(-1), np.maximum(dof, 1)), 1.0)
        p = np.where((~keep & (cur > 0)).any(-1), 0.0, p)
        return -np.log(p)
