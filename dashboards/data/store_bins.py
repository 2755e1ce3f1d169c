"""Quantiles and histograms read off log-bin counts (`api.bin_of`), whichever table the
counts came from (a GROUP BY over raw rows, or the rollups' histograms)."""

from __future__ import annotations

import pandas as pd

from dashboards.data import api


def quantile(counts: dict[int, int], q: float) -> float:
    """The `q` quantile of values whose bins are `counts` (bin -> count, non-empty):
    numpy's linear rank `q * (n - 1)`, placed within its bin on the log scale by where
    the rank falls among the bin's values, so the error stays within the bin's ~9%."""
    n = sum(counts.values())
    rank = q * (n - 1)
    below = 0
    for b in sorted(counts):
        c = counts[b]
        if rank < below + c:
            low, high = api.bin_bounds(b)
            if b == api.ZERO_BIN:
                return 0.0
            return low * (high / low) ** ((rank - below + 0.5) / c)
        below += c
    low, high = api.bin_bounds(max(counts))
    return high


def quantiles_frame(rows: list[tuple], qs: tuple[float, ...], per_t: bool) -> pd.DataFrame:
    """Columns `q`, `value` (and `t` first when `per_t`) from rows (t, b, n) or (b, n)."""
    groups: dict[float | None, dict[int, int]] = {}
    for row in rows:
        t, b, n = row if per_t else (None, *row)
        if n:
            counts = groups.setdefault(t, {})
            counts[b] = counts.get(b, 0) + n
    out = [
        {"t": t, "q": q, "value": quantile(counts, q)}
        for t, counts in sorted(groups.items(), key=lambda item: item[0] or 0)
        for q in qs
    ]
    columns = ["t", "q", "value"] if per_t else ["q", "value"]
    return pd.DataFrame(out, columns=["t", "q", "value"])[columns]


def histogram_frame(rows: list[tuple]) -> pd.DataFrame:
    """Columns `low`, `high`, `count` from rows (b, n), non-empty bins ordered by low."""
    counts: dict[int, int] = {}
    for b, n in rows:
        counts[b] = counts.get(b, 0) + n
    out = [(*api.bin_bounds(b), n) for b, n in sorted(counts.items()) if n]
    return pd.DataFrame(out, columns=["low", "high", "count"])
