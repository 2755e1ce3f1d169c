"""Distributions on the dashboard's log bins (`api.bin_of`) from Elasticsearch `range`
aggregations, and quantiles read off those bins.

Why ranges: the emulator (noida-db 0.2.3) has no `percentiles` or `percentile_ranks`
(400, unknown aggregation) and answers a `histogram` over a script with no buckets at all
(silently wrong), while its `histogram` over a field is linear only. A `range` aggregation
whose ranges are the log bins gives the same counts as the store's bins, on the emulator
and on Elasticsearch. The ranges span only the bins between the smallest and largest
positive value (asked first, with `stats`), plus one range for values <= 0 (`ZERO_BIN`).
"""

from __future__ import annotations

import math

from dashboards.data.api import ZERO_BIN, bin_bounds, bin_of

ZERO = "zero"


def span_query(field: str) -> dict:
    """Aggregations giving the smallest and largest positive value of `field`."""
    positive = {"range": {field: {"gt": 0}}}
    return {"positive": {"filter": positive, "aggs": {"s": {"stats": {"field": field}}}}}


def span_of(aggs: dict) -> tuple[int, int] | None:
    """The first and last bin with a positive value, from `span_query`'s answer (None
    when there is none). One bin of slack either side: a value on a bin's edge may fall
    either way in floating point, and an empty range costs nothing."""
    s = aggs["positive"]["s"]
    if not s.get("count"):
        return None
    return bin_of(s["min"]) - 1, bin_of(s["max"]) + 1


def bin_ranges(field: str, span: tuple[int, int] | None) -> dict:
    """A `range` aggregation `bins` with one range per log bin of `span` and one (`ZERO`)
    below them (values <= 0: no positive value is smaller than the first bin)."""
    if span is None:
        ranges = [{"key": ZERO, "to": 1e-300}]  # `to` is exclusive: 0 itself is in
    else:
        first, last = span
        ranges = [{"key": ZERO, "to": bin_bounds(first)[0]}]
        ranges += [
            {"key": str(b), "from": bin_bounds(b)[0], "to": bin_bounds(b)[1]}
            for b in range(first, last + 1)
        ]
    return {"bins": {"range": {"field": field, "ranges": ranges}}}


def counts_of(agg: dict) -> list[tuple[int, int]]:
    """(bin, count) of the non-empty bins of a `bin_ranges` answer, ordered by bin."""
    out = []
    for b in agg["bins"]["buckets"]:
        if b["doc_count"]:
            key = b["key"]
            out.append((ZERO_BIN if key == ZERO else int(key), b["doc_count"]))
    return sorted(out)


def quantile(counts: list[tuple[int, int]], q: float) -> float | None:
    """The `q` quantile of binned values, as numpy's default (linear between the order
    statistics around rank q*(n-1)), each order statistic placed log-uniformly inside its
    bin: within a bin's width (about 9%) of the exact one. None without values."""
    n = sum(c for _, c in counts)
    if n == 0:
        return None
    rank = q * (n - 1)
    low, high = _order_stat(counts, math.floor(rank)), _order_stat(counts, math.ceil(rank))
    return low + (rank - math.floor(rank)) * (high - low)


def _order_stat(counts: list[tuple[int, int]], k: int) -> float:
    """The k-th smallest value (0-based), spread evenly on the log scale of its bin."""
    seen = 0
    for b, c in counts:
        if k < seen + c:
            if b == ZERO_BIN:
                return 0.0
            low, high = bin_bounds(b)
            return low * (high / low) ** ((k - seen + 0.5) / c)
        seen += c
    raise ValueError(f"no value of rank {k} among {seen}")
