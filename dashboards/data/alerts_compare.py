"""The Drift page's comparison: the agent's own drift code (alerts.drift.compare) over
page-sized samples of the request log, and the distributions it compared.

Records come from the source the detectors use (`alerts.source.StoreSource` on the
store, `alerts.source_es` on Elasticsearch), at most `max_rows` per window drawn
uniformly (seeded), so a page stays fast whatever the traffic; the page states the
sample sizes. Nothing here draws: the page caches and plots these answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alerts.drift import compare_features
from alerts.drift.config import DriftConfig
from alerts.source import SourceUnavailable
from dashboards.data.api import DataUnavailable

PAGE_MAX_ROWS = 20_000
BINS = 30


def page_config(config: DriftConfig, max_rows: int = PAGE_MAX_ROWS) -> DriftConfig:
    """The agent's drift settings with windows capped at `max_rows` records."""
    return config.model_copy(update={"source_max_rows": max_rows, "max_rows": max_rows})


def source_for(settings, config: DriftConfig):
    """The record source the dashboard's settings name (store or Elasticsearch)."""
    if settings.dashboard.source == "elasticsearch":
        from alerts.drift.run import es_source

        return es_source(settings.elasticsearch, config)
    from alerts.source import StoreSource

    return StoreSource(settings.store.path, max_rows=config.source_max_rows)


def read(source, start: float, end: float, models=(), tenants=()) -> pd.DataFrame:
    """The source's records of [start, end), only `models` and `tenants` when given."""
    try:
        frame = source.frame(start, end)
    except SourceUnavailable as err:
        raise DataUnavailable(str(err)) from err
    return keep(frame, models, tenants)


def keep(frame: pd.DataFrame, models=(), tenants=()) -> pd.DataFrame:
    """Only the records of `models` and `tenants` (all when empty)."""
    if models:
        frame = frame[frame["model"].isin(models)]
    if tenants:
        frame = frame[frame["tenant"].isin(tenants)]
    return frame.reset_index(drop=True)


def compare(reference: pd.DataFrame, current: pd.DataFrame, config: DriftConfig):
    """`alerts.drift.compare.compare` of the two windows (a `DriftReport`)."""
    from alerts.drift.compare import compare as run  # SciPy, loaded on use

    return run(reference, current, config)


def report_frame(report) -> pd.DataFrame:
    """The report's rows as a table (one per feature and segment)."""
    cols = ["segment", "feature", "test", "statistic", "threshold", "p_value", "drifted"]
    rows = [
        {c: getattr(r, c) for c in [*cols, "n_reference", "n_current", "note"]} for r in report.rows
    ]
    return pd.DataFrame(rows, columns=[*cols, "n_reference", "n_current", "note"])


def verdicts(report) -> pd.DataFrame:
    """Per segment: whether the dataset drifted, the share of drifted features, the limit."""
    return pd.DataFrame(
        [
            {
                "segment": s,
                "dataset_drift": bool(d),
                "drifted_share": report.drifted_share(s),
                "limit": report.drift_share,
            }
            for s, d in report.dataset_drift.items()
        ],
        columns=["segment", "dataset_drift", "drifted_share", "limit"],
    )


def distributions(
    ref: pd.DataFrame, cur: pd.DataFrame, feature: str, segment: str, config: DriftConfig
) -> pd.DataFrame:
    """The share of each window's requests per bin (numbers: `BINS` common bins on the
    tested scale, labelled in the feature's own units) or category, of `feature` in
    `segment`: columns window, bin, count, share."""
    values = [_values(f, feature, segment, config) for f in (ref, cur)]
    kind = values[0][0]
    if kind == "num":
        labels, counts = _numeric_bins(values[0][1], values[1][1], feature, config.log_scale)
    else:
        labels = sorted(
            set(values[0][1].dropna().astype(str)) | set(values[1][1].dropna().astype(str))
        )
        counts = [
            values[i][1]
            .dropna()
            .astype(str)
            .value_counts()
            .reindex(labels, fill_value=0)
            .to_numpy()
            for i in (0, 1)
        ]
    out = []
    for name, c in zip(("reference", "current"), counts, strict=True):
        total = max(int(np.sum(c)), 1)
        out += [
            {"window": name, "bin": b, "count": int(n), "share": n / total}
            for b, n in zip(labels, c, strict=True)
        ]
    return pd.DataFrame(out, columns=["window", "bin", "count", "share"])


def _values(frame: pd.DataFrame, feature: str, segment: str, config: DriftConfig):
    if segment != "all":
        by, value = segment.split("=", 1)
        frame = frame[frame[by].astype(str) == value]
    filters = compare_features.safety_filter_names(frame)
    descriptors = compare_features.descriptor_columns(frame)
    feats = compare_features.features(frame, filters, descriptors, config.log_scale)
    if feature not in feats:  # a safety filter that hit in only one window
        return "cat", compare_features.safety_hit(frame, feature.removeprefix("safety_"))
    return feats[feature]


def _numeric_bins(ref: pd.Series, cur: pd.Series, feature: str, log_scale: bool):
    r, c = ref.dropna().to_numpy(float), cur.dropna().to_numpy(float)
    both = np.concatenate([r, c])
    if both.size == 0:
        return [], [np.array([]), np.array([])]
    edges = np.histogram_bin_edges(both, bins=BINS)
    raw = _raw_units(edges, feature, log_scale)
    labels = [f"{lo:.4g}–{hi:.4g}" for lo, hi in zip(raw[:-1], raw[1:], strict=True)]
    return labels, [np.histogram(v, bins=edges)[0] for v in (r, c)]


def _raw_units(edges: np.ndarray, feature: str, log_scale: bool) -> np.ndarray:
    # The test sees log1p of counts, times and cost (in millionths); people read units.
    raw = np.expm1(edges) if log_scale and feature in compare_features.NUMERICAL else edges
    return raw / 1e6 if feature == "cost_amount" else raw
