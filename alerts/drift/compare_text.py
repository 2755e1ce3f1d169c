"""Text columns in compare(): the domain classifier's ROC AUC as a drift test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alerts.drift import text
from alerts.drift.report import NOT_ENOUGH_DATA, FeatureResult

TEST = "domain_classifier"
AUC_THRESHOLD = 0.55  # Evidently's text_content_drift_abs default_threshold


def sample(values: pd.Series, limit: int, rng: np.random.Generator) -> list[str]:
    """Non-missing texts, a seeded random subsample of `limit` when there are more."""
    texts = values.dropna().astype(str).tolist()
    if len(texts) <= limit:
        return texts
    return [texts[i] for i in rng.choice(len(texts), size=limit, replace=False)]


def text_row(column: str, ref: pd.DataFrame, cur: pd.DataFrame, config, rng):
    """(row, null) of one text column in segment "all"; null None when not tested."""
    n_ref = int(ref[column].notna().sum()) if column in ref else 0
    n_cur = int(cur[column].notna().sum()) if column in cur else 0
    base = FeatureResult(column, "all", "", math.nan, math.nan, math.nan, False, n_ref, n_cur)
    if min(n_ref, n_cur) < max(config.min_rows, 5):  # 5 folds need 5 texts a side
        return FeatureResult(**{**base.__dict__, "note": NOT_ENOUGH_DATA}), None
    r = sample(ref[column], config.text_max_rows, rng)
    c = sample(cur[column], config.text_max_rows, rng)
    auc, p, null = text.domain_test(r, c, seed=config.seed)
    note = f"classifier on {len(r)}/{len(c)} texts" if (len(r), len(c)) != (n_ref, n_cur) else ""
    row = FeatureResult(
        column, "all", TEST, auc, AUC_THRESHOLD, math.nan, False, n_ref, n_cur, note
    )
    if not config.calibrate:
        return FeatureResult(**{**row.__dict__, "drifted": auc > AUC_THRESHOLD}), None
    return FeatureResult(**{**row.__dict__, "p_value": p}), null
