"""Expected answers of `RequestData` computed from `tests.dashboard_seed.frame_of` (the
seeded records as a pandas frame), for the store tests to hold `StoreData` to."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dashboards.data import api

INTS = ("requests", "errors", "input_tokens", "output_tokens", "costed", "safety_hits")


def select(frame: pd.DataFrame, f: api.Filters, filtered: bool = True) -> pd.DataFrame:
    """The rows of `f` (time range, and its model/tenant filter when `filtered`)."""
    keep = (frame.wall_time >= f.start) & (frame.wall_time < f.end)
    if filtered and f.models:
        keep &= frame.model.isin(f.models)
    if filtered and f.tenants:
        keep &= frame.tenant.isin(f.tenants)
    return frame[keep]


def key_of(frame: pd.DataFrame, by: str) -> pd.Series:
    """A dimension's values as the store's keys (missing: "", stream: "true"/"false")."""
    if by == "stream":
        return frame.stream.map({True: "true", False: "false"})
    return frame[by].fillna("").astype(str)


def measures(rows: pd.DataFrame) -> dict:
    """`api.MEASURES` of some rows."""
    return {
        "requests": len(rows),
        "errors": int((rows.status != "ok").sum()),
        "input_tokens": int(rows.prompt_tokens.fillna(0).sum()),
        "output_tokens": int(rows.completion_tokens.fillna(0).sum()),
        "cost": float(rows.cost_amount.fillna(0).sum()),
        "costed": int(rows.cost_amount.notna().sum()),
        "device_seconds": float(rows.cost_device_seconds.fillna(0).sum()),
        "joules": float(rows.cost_joules.fillna(0).sum()),
        "safety_hits": int(rows.safety_hits.sum()),
        "latency_sum": float(rows.latency_s.sum()),
        "ttft_sum": float(rows.ttft_s.dropna().sum()),
        "ttft_count": int(rows.ttft_s.notna().sum()),
    }


def grouped(rows: pd.DataFrame, step_s: int | None, by: str | None) -> dict:
    """{(t, key): measures}; t and key None where not asked."""
    if rows.empty:
        return {}
    t = (np.floor(rows.wall_time / step_s) * step_s).astype("int64") if step_s else 0
    rows = rows.assign(_t=t, _k=key_of(rows, by) if by else "")
    return {
        (int(gt) if step_s else None, gk if by else None): measures(g)
        for (gt, gk), g in rows.groupby(["_t", "_k"])
    }


def metric_values(rows: pd.DataFrame, metric: str) -> pd.Series:
    """A distribution's values (those that exist)."""
    column = {"latency": "latency_s", "ttft": "ttft_s", "tpot": "tpot_s", "cost": "cost_amount"}
    return rows[column[metric]].dropna().astype(float)


def histogram(rows: pd.DataFrame, metric: str) -> dict:
    """{(low, high): count} on the log bins."""
    counts = metric_values(rows, metric).map(api.bin_of).value_counts()
    return {api.bin_bounds(int(b)): int(n) for b, n in counts.items()}


def safety(rows: pd.DataFrame, step_s: int | None) -> dict:
    """{(t, filter, direction, action, tenant): hits}."""
    out: dict = {}
    for r in rows.itertuples():
        t = int(math.floor(r.wall_time / step_s) * step_s) if step_s else None
        for v in r.safety:
            k = (t, v.filter, v.direction, v.action, r.tenant)
            out[k] = out.get(k, 0) + v.count
    return out
