"""One experiment's comparison for the Experiments page: the arms read by
`alerts.experiments.arms.load`, compared by `alerts.experiments.report.compare` (the
same report `inferwatch experiments report` prints), and what the page draws of the arms:
binned distributions and a sample of the shadow pairs (a few kB, not the arms' arrays).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alerts.experiments.arms import Arm, ExperimentData, load
from alerts.experiments.report import compare
from alerts.experiments.stored import Arms
from dashboards.data.api import DataUnavailable
from dashboards.data.store_open import open_store

# The per-request measures drawn side by side: Arm attribute -> what the page calls it.
MEASURES = {"latency_s": "latency", "ttft_s": "time to first token", "cost": "cost per request"}
BINS = 40
PAIRS_SHOWN = 2000  # pairs drawn as points (a uniform sample of them; the test uses all)


@dataclass(frozen=True)
class PageReport:
    """The report as JSON values (`ExperimentReport.to_json()`), the distributions
    (`histograms`) and, for a shadow, a sample of its pairs (`pair_frame`)."""

    doc: dict
    histograms: pd.DataFrame
    pairs: pd.DataFrame | None


def build(path: Path, name: str, arms: Arms, since: float | None, until: float | None):
    """Read and compare the arms of `name` over [since, until) (None: open). Blocking and
    slow (the bootstrap): the page caches it. `DataUnavailable` when the store cannot be
    read."""
    conn, _version = open_store(path)
    try:
        data = load(conn, name, arms.control, arms.variant, since, until, kind=arms.kind)
    except sqlite3.Error as err:
        raise DataUnavailable(f"the store at {path} cannot be read: {err}") from err
    finally:
        conn.close()
    return PageReport(compare(data).to_json(), histograms(data), pair_frame(data))


def histograms(data: ExperimentData) -> pd.DataFrame:
    """Per measure of `MEASURES` and arm, the share (percent of the arm's known values) in
    each of `BINS` log-spaced bins shared by both arms: columns measure, arm, low, high,
    share. A measure no arm has a positive value of is left out."""
    arms = (data.control, data.variant)
    frames = [f for m in MEASURES if (f := _binned(m, arms)) is not None]
    cols = ["measure", "arm", "low", "high", "share"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _binned(measure: str, arms: tuple[Arm, Arm]) -> pd.DataFrame | None:
    known = np.concatenate([a.values(measure) for a in arms])
    known = known[known > 0]  # a log axis: a zero cost (nothing metered) cannot be drawn
    if known.size == 0:
        return None
    low, high = float(known.min()), float(known.max())
    edges = np.geomspace(low, high * (1 + 1e-9), BINS + 1) if high > low else [low, low * 1.01]
    parts = []
    for arm in arms:
        x = arm.values(measure)
        x = x[x > 0]
        counts, _ = np.histogram(x, bins=edges)
        share = 100.0 * counts / max(x.size, 1)
        parts.append(
            pd.DataFrame(
                {"measure": measure, "arm": arm.name, "low": edges[:-1], "high": edges[1:]}
            ).assign(share=share)
        )
    return pd.concat(parts, ignore_index=True)


def pair_frame(data: ExperimentData, limit: int = PAIRS_SHOWN) -> pd.DataFrame | None:
    """A shadow's pairs, at most `limit` per measure (a seeded uniform sample): columns
    measure, control, variant. None for a split or canary."""
    if data.pairs is None:
        return None
    rng = np.random.default_rng(0)  # the same points on every rerun
    parts = []
    for measure, (c, v) in data.pairs.measures.items():
        keep = np.sort(rng.choice(c.size, limit, replace=False)) if c.size > limit else slice(None)
        parts.append(pd.DataFrame({"measure": measure, "control": c[keep], "variant": v[keep]}))
    return pd.concat(parts, ignore_index=True) if parts else None
