"""Which tenants or models drove a cost anomaly: each one's excess over its own baseline
across the anomaly's stretch, largest first."""

from __future__ import annotations

import pandas as pd

from alerts.cost.anomaly import excess
from alerts.cost.config import CostAlertsConfig
from alerts.cost.series import TOTAL, top_values, wide

TOP = 3


def contributors(
    agg: pd.DataFrame,
    segment: str,
    span: tuple[int, int, int],
    config: CostAlertsConfig,
    direction: int = 1,
) -> list[tuple[str, float]]:
    """Top contributors to the cost change of `segment` over the stretch [first, last]:
    for "total", tenants and models (TOP of each); for "tenant=T" the models of T, for
    "model=M" its tenants. `span` is (first interval of the series, first and last of the
    stretch); `direction` -1 ranks the largest drops first."""
    begin, first, last = span
    if segment == TOTAL:
        parts = [(agg, "tenant"), (agg, "model")]
    else:
        by, value = segment.split("=", 1)
        other = "model" if by == "tenant" else "tenant"
        parts = [(agg[agg[by] == value], other)]
    out = []
    for part, dim in parts:
        out += _ranked(part, dim, (begin, first, last), config, direction)
    return out


def _ranked(part, dim, span, config, direction) -> list[tuple[str, float]]:
    begin, first, last = span
    keep, _ = top_values(part, dim, config.max_segments)
    table = wide(part, begin, last + 1, dim, "cost").reindex(columns=keep, fill_value=0.0)
    amounts = [(f"{dim}={v}", excess(table[v], first, last, config)) for v in keep]
    amounts.sort(key=lambda kv: -direction * kv[1])
    return [kv for kv in amounts[:TOP] if direction * kv[1] > 0]


def describe(amounts: list[tuple[str, float]], currency: str) -> str:
    """`tenant=acme +12.30 USD, model=m +4.10 USD` (empty when none)."""
    return ", ".join(f"{name} {amount:+.2f} {currency}".rstrip() for name, amount in amounts)
