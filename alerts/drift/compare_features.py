"""Features of drift from a record frame (the preamble's record-frame contract).

Numerical: token counts, latencies, cost, and the text descriptor columns
(`prompt_<d>`, `completion_<d>`); infinities count as missing. Categorical: finish
reason (None is the category "(none)"), HTTP status class, model, tenant, and one
"hit"/"no hit" feature per safety filter that hit in either window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERICAL = ("prompt_tokens", "completion_tokens", "latency_s", "ttft_s", "tpot_s", "cost_amount")
TEXT = ("prompt_text", "completion_text")
_NOT_DESCRIPTORS = frozenset(NUMERICAL + TEXT)


def descriptor_columns(frame: pd.DataFrame) -> list[str]:
    """The text descriptor columns a frame holds."""
    return [
        c
        for c in frame.columns
        if c.startswith(("prompt_", "completion_")) and c not in _NOT_DESCRIPTORS
    ]


def safety_filter_names(*frames: pd.DataFrame) -> list[str]:
    """Names of the safety filters that hit in any of the frames."""
    names: set[str] = set()
    for frame in frames:
        if "safety_filters" in frame:
            joined = ",".join(frame["safety_filters"].dropna().astype(str).unique())
            names.update(n.strip() for n in joined.split(",") if n.strip())
    return sorted(names)


def numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """A numerical column as float, with infinities and non-numbers as NaN."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index)
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return values.where(np.isfinite(values))


def status_class(frame: pd.DataFrame) -> pd.Series:
    """HTTP status class ("2xx", "4xx", "5xx"...), NaN where the status is unknown."""
    code = numeric(frame, "http_status")
    label = (code // 100).map(lambda x: f"{int(x)}xx" if x == x else np.nan)
    return label.astype(object)


def category(frame: pd.DataFrame, column: str, missing: str | None = None) -> pd.Series:
    """A categorical column as strings; missing values as `missing` or NaN."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=object)
    values = frame[column]
    text = values.astype(str).where(values.notna())
    return text.fillna(missing) if missing is not None else text


def safety_hit(frame: pd.DataFrame, name: str) -> pd.Series:
    """ "hit" where the filter `name` is among the request's safety_filters, else "no hit"."""
    if "safety_filters" not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=object)
    padded = "," + frame["safety_filters"].fillna("").astype(str).str.replace(" ", "") + ","
    return padded.str.contains(f",{name},", regex=False).map({True: "hit", False: "no hit"})


def features(
    frame: pd.DataFrame, filters: list[str], descriptors: list[str]
) -> dict[str, tuple[str, pd.Series]]:
    """Feature name -> (kind "num" or "cat", values aligned with the frame's rows)."""
    out: dict[str, tuple[str, pd.Series]] = {}
    for column in (*NUMERICAL, *descriptors):
        out[column] = ("num", numeric(frame, column))
    out["finish_reason"] = ("cat", category(frame, "finish_reason", "(none)"))
    out["status_class"] = ("cat", status_class(frame))
    out["model"] = ("cat", category(frame, "model"))
    out["tenant"] = ("cat", category(frame, "tenant"))
    for name in filters:
        out[f"safety_{name}"] = ("cat", safety_hit(frame, name))
    return out
