"""Anomaly verdicts on one series: the last point against its baseline band, held for
`consecutive` intervals in a row, with the anomaly's size over its whole stretch.

A series is a pandas Series indexed by interval number (`floor(t / interval_s)`), complete
intervals only. NaN points (a ratio with nothing to divide) are never outside the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alerts.cost.baseline import Baseline, Baselines
from alerts.cost.config import CostAlertsConfig

OK = "ok"
ANOMALY = "anomaly"
NOT_ENOUGH_DATA = "not_enough_data"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The state of a series at its last point."""

    status: str
    observed: float = math.nan
    expected: float = math.nan
    score: float = math.nan  # (observed - expected) / (half-width / k): outside when |score| > k
    run: int = 0  # intervals in a row outside the band, ending at the last point
    size: float = 0.0  # sum of observed - expected over the run
    first: int | None = None  # interval number where the run starts
    last: int | None = None  # interval number of the last point
    baseline: str = ""


def outside(value: float, base: Baseline, direction: str) -> bool:
    """Whether `value` is outside the band on a side that `direction` alerts on."""
    if not math.isfinite(value):
        return False
    dev = value - base.median
    if direction == "up":
        return dev > base.half_width
    if direction == "down":
        return -dev > base.half_width
    return abs(dev) > base.half_width


def detect(series: pd.Series, config: CostAlertsConfig) -> Verdict:
    """The verdict at the last point of `series` (see the module docstring)."""
    if len(series) == 0:
        return Verdict(NOT_ENOUGH_DATA)
    idx = series.index.to_numpy(dtype=np.int64)
    values = series.to_numpy(dtype=float)
    bases = Baselines(idx * config.interval_s, values, config)
    last = len(values) - 1
    base = bases.at(last)
    if base is None:
        return Verdict(NOT_ENOUGH_DATA, observed=values[last], last=int(idx[last]))
    run, size = _run(values, bases, last, config)
    score = (values[last] - base.median) * config.k / base.half_width
    status = ANOMALY if run >= config.consecutive else OK
    first = int(idx[last - run + 1]) if run else None
    return Verdict(
        status, values[last], base.median, score, run, size, first, int(idx[last]), base.kind
    )


def _run(values: np.ndarray, bases: Baselines, last: int, config: CostAlertsConfig):
    """Length and size of the stretch outside the band that ends at `last`."""
    longest = max(1, int(config.max_stretch_s / config.interval_s))
    run, size, p = 0, 0.0, last
    while p >= 0 and run < longest:
        base = bases.at(p)
        if base is None or not outside(values[p], base, config.direction):
            break
        run, size, p = run + 1, size + values[p] - base.median, p - 1
    return run, size


def excess(series: pd.Series, first: int, last: int, config: CostAlertsConfig) -> float:
    """Sum of observed minus expected over intervals [first, last] of `series` (a point
    with no baseline is expected at 0): how much this series added to a stretch."""
    idx = series.index.to_numpy(dtype=np.int64)
    values = series.to_numpy(dtype=float)
    bases = Baselines(idx * config.interval_s, values, config)
    total = 0.0
    for p in np.flatnonzero((idx >= first) & (idx <= last)):
        base = bases.at(int(p))
        total += values[p] - (base.median if base else 0.0)
    return float(total)


def flags(series: pd.Series, config: CostAlertsConfig) -> np.ndarray:
    """Whether each point of `series` is outside its band (a point without a baseline is
    not): what `detect` sees at each point, for a whole history at once (benchmarks)."""
    idx = series.index.to_numpy(dtype=np.int64)
    values = series.to_numpy(dtype=float)
    bases = Baselines(idx * config.interval_s, values, config)
    out = np.zeros(len(values), dtype=bool)
    for p in range(len(values)):
        base = bases.at(p)
        out[p] = base is not None and outside(values[p], base, config.direction)
    return out
