"""Metric series over time for the GPUs and vLLM page (and the cost page's idle cost and
device utilisation), whatever holds them: the agent's own snapshots in its store
(`dashboards.data.series_store.StoreSeries`) or a Prometheus that scrapes it
(`dashboards.data.series_prom.PrometheusSeries`).

Both answer on the same grid: `t` runs over the multiples of `step_s` in (start, end]
(start and end widened to whole steps). A gauge's value at `t` is its last sample before
`t` (Prometheus: at or before); a counter's (catalogue type `counter`, name ending in
`_total`) is its per-second rate over the step ending at `t`, a counter reset counted as
a restart from zero. Either answers or raises `DataUnavailable` with a message to show.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Protocol

import pandas as pd

from agent.catalogue import load_catalogue

# Columns every answer has; one more per label name found (values are strings).
COLUMNS = ("t", "name", "labels", "value")


class SeriesData(Protocol):
    """Metric series by catalogue name (see the module docstring)."""

    def info(self) -> str:
        """Where the series come from, in words a page shows (never raises)."""
        ...

    def series(self, names: tuple[str, ...], start: float, end: float, step_s: int) -> pd.DataFrame:
        """Columns `t`, `name`, `labels` (the label set as sorted 'k=v,...'), one column
        per label name, `value`; ordered by name, labels, t. Nothing seen: no rows."""
        ...


@cache
def counters() -> frozenset[str]:
    """Names the catalogue declares as counters (their values become rates)."""
    return frozenset(n for n, spec in load_catalogue().items() if spec.type == "counter")


def grid(start: float, end: float, step_s: int) -> tuple[int, int]:
    """(first, last) evaluation time: multiples of `step_s`, first > start, last >= end."""
    if step_s <= 0 or not end > start:
        raise ValueError("a series needs a positive step and a range that ends after it starts")
    first = (math.floor(start / step_s) + 1) * step_s
    return first, max(first, math.ceil(end / step_s) * step_s)


def labels_text(labels: dict[str, str]) -> str:
    """A label set as one sorted 'k=v,...' string (the `labels` column)."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def frame(rows: list[tuple[int, str, dict[str, str], float]]) -> pd.DataFrame:
    """The answer's frame from (t, name, labels, value) rows."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in COLUMNS})
    out = pd.DataFrame(
        {
            "t": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "labels": [labels_text(r[2]) for r in rows],
        }
    )
    extra = pd.DataFrame([r[2] for r in rows], index=out.index)
    out = pd.concat([out, extra.reindex(sorted(extra.columns), axis=1)], axis=1)
    out["value"] = [float(r[3]) for r in rows]
    out["t"] = out["t"].astype("int64")
    return out.sort_values(["name", "labels", "t"], ignore_index=True)


def _dtype(column: str) -> str:
    return {"t": "int64", "value": "float64"}.get(column, "object")


def open_series(store_path, prometheus_url: str | None = None) -> SeriesData:
    """The series source a dashboard reads: the Prometheus at `prometheus_url` when one is
    given, else the snapshots in the store at `store_path`."""
    if prometheus_url:
        from dashboards.data.series_prom import PrometheusSeries

        return PrometheusSeries(prometheus_url)
    from dashboards.data.series_store import StoreSeries

    return StoreSeries(store_path)
