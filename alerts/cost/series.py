"""Cost series from a record frame: an aggregate per interval, tenant and model, then wide
series per segment (cost, requests, cost per 1k output tokens) with empty intervals as zeros.

Intervals are numbered `floor(wall_time / interval_s)`, so they line up across reads and
an aggregate of one range can be kept and extended by the next. A record whose cost is
still unknown (NaN) counts as a request but adds no cost (`unknown`); a cost that is
negative or not finite, or a wall time that is not finite, is refused (`invalid`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

TOTAL = "total"
SERIES = ("cost", "requests", "cost_per_1k_output")
AGG_COLUMNS = ["interval", "tenant", "model", "cost", "cost_tok", "output_tokens"]
AGG_COLUMNS += ["requests", "unknown", "invalid"]
_NEEDED = ("wall_time", "tenant", "model", "cost_amount", "completion_tokens")


def empty_aggregate() -> pd.DataFrame:
    """An aggregate with no rows (the columns `aggregate` returns)."""
    return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in AGG_COLUMNS})


def _dtype(column: str) -> str:
    return {"interval": "int64", "tenant": "object", "model": "object"}.get(column, "float64")


def aggregate(frame: pd.DataFrame, interval_s: float) -> pd.DataFrame:
    """Sum a record frame per interval, tenant and model (see the module docstring)."""
    if frame is None or len(frame) == 0:
        return empty_aggregate()
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise ValueError(f"record frame lacks column(s) {', '.join(missing)}")
    wall = pd.to_numeric(frame["wall_time"], errors="coerce").to_numpy(dtype=float)
    cost = pd.to_numeric(frame["cost_amount"], errors="coerce").to_numpy(dtype=float)
    tokens = pd.to_numeric(frame["completion_tokens"], errors="coerce").to_numpy(dtype=float)
    unknown = np.isnan(cost)
    invalid = ~np.isfinite(wall) | (~unknown & (~np.isfinite(cost) | (cost < 0)))
    known = ~unknown & ~invalid
    tok_ok = known & np.isfinite(tokens) & (tokens >= 0)
    rows = pd.DataFrame(
        {
            "interval": np.floor(np.where(np.isfinite(wall), wall, 0) / interval_s),
            "tenant": frame["tenant"].fillna("unknown").astype(str).to_numpy(),
            "model": frame["model"].fillna("unknown").astype(str).to_numpy(),
            "cost": np.where(known, cost, 0.0),
            "cost_tok": np.where(tok_ok, cost, 0.0),
            "output_tokens": np.where(tok_ok, tokens, 0.0),
            "requests": np.where(invalid, 0.0, 1.0),
            "unknown": (unknown & ~invalid).astype(float),
            "invalid": invalid.astype(float),
        }
    )
    rows["interval"] = rows["interval"].astype("int64")
    out = rows.groupby(["interval", "tenant", "model"], as_index=False, sort=True).sum()
    return out[AGG_COLUMNS]


def top_values(agg: pd.DataFrame, by: str, limit: int) -> tuple[list[str], int]:
    """The `limit` values of `by` ("tenant" or "model") with the most spend, and how many
    others were left out (label values stay bounded)."""
    spend = agg.groupby(by)["cost"].sum().sort_values(ascending=False, kind="stable")
    return [str(v) for v in spend.index[:limit]], max(0, len(spend) - limit)


def wide(agg: pd.DataFrame, first: int, end: int, by: str | None, value: str) -> pd.DataFrame:
    """`value` summed per interval in [first, end), one column per value of `by` (or one
    column "total"), empty intervals as 0."""
    index = pd.RangeIndex(first, end, name="interval")
    part = agg[(agg["interval"] >= first) & (agg["interval"] < end)]
    if by is None:
        table = part.groupby("interval")[value].sum().to_frame(TOTAL)
    else:
        table = part.pivot_table(index="interval", columns=by, values=value, aggfunc="sum")
    return table.reindex(index, fill_value=0.0).fillna(0.0).astype(float)


def segment_series(
    agg: pd.DataFrame, first: int, end: int, tenants: Iterable[str], models: Iterable[str]
) -> dict[str, pd.DataFrame]:
    """Each series of SERIES, one column per segment: "total", "tenant=T", "model=M"."""
    tenants, models = list(tenants), list(models)
    out = {}
    for value in ("cost", "requests", "cost_tok", "output_tokens"):
        cols = [wide(agg, first, end, None, value)]
        cols.append(_named(wide(agg, first, end, "tenant", value), "tenant", tenants))
        cols.append(_named(wide(agg, first, end, "model", value), "model", models))
        out[value] = pd.concat(cols, axis=1)
    tokens = out.pop("output_tokens")
    out["cost_per_1k_output"] = 1000.0 * out.pop("cost_tok") / tokens.where(tokens > 0)
    return out


def _named(table: pd.DataFrame, by: str, keep: list[str]) -> pd.DataFrame:
    table = table.reindex(columns=keep, fill_value=0.0)
    return table.rename(columns=lambda v: f"{by}={v}")
