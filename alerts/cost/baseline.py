"""The robust baseline of one point of a series: median and scaled MAD of the same hour of
week in past weeks once they hold enough points, of the trailing window before that.

A band is median +/- max(k * sigma, min_band_abs, min_band_rel * |median|). sigma is the
MAD scaled to a normal's standard deviation (x 1.4826); when more than half the points
are equal the MAD is 0, and sigma falls back to the mean absolute deviation scaled the
same way (x 1.2533, as IBM's modified z-score does), so a mostly-idle series that is
sometimes busy keeps a band its busy minutes fit in. The floors keep a flat series from
paging on a wiggle too small to matter (absolute, in currency per interval) or too small
a share of the usual level (relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import median_abs_deviation

from alerts.cost.config import WEEK_S, CostAlertsConfig

HOUR_OF_WEEK = "hour_of_week"
TRAILING = "trailing"
_MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean absolute deviation of a normal is sigma / this
_EPOCH_HOUR_OF_WEEK = 72  # 1970-01-01 was a Thursday: hour 72 of a week from Monday 00:00


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a point is compared with."""

    median: float
    sigma: float
    half_width: float  # of the band, floors applied
    kind: str  # HOUR_OF_WEEK or TRAILING
    points: int


def hour_of_week(t: np.ndarray) -> np.ndarray:
    """Hour of the UTC week (Monday 00:00 is 0) of epoch seconds `t`."""
    return (np.floor(t / 3600.0).astype(np.int64) + _EPOCH_HOUR_OF_WEEK) % 168


class Baselines:
    """Baselines of the points of one series (times `t` in epoch seconds, ascending)."""

    def __init__(self, t: np.ndarray, values: np.ndarray, config: CostAlertsConfig) -> None:
        self._t, self._v, self._cfg = t, values, config
        self._how = hour_of_week(t)
        self._seasonal: dict[float, Baseline | None] = {}

    def at(self, p: int) -> Baseline | None:
        """The baseline of point `p`, or None when there is not enough data."""
        hour = np.floor(self._t[p] / 3600.0) * 3600.0
        if hour not in self._seasonal:
            self._seasonal[hour] = self._hour_of_week(p, hour)
        return self._seasonal[hour] or self._trailing(p)

    def _hour_of_week(self, p: int, hour: float) -> Baseline | None:
        since = hour - self._cfg.seasonal_weeks * WEEK_S
        mask = (self._how == self._how[p]) & (self._t < hour) & (self._t >= since)
        return self._stats(self._v[mask], HOUR_OF_WEEK, self._cfg.seasonal_min_points)

    def _trailing(self, p: int) -> Baseline | None:
        lo = np.searchsorted(self._t, self._t[p] - self._cfg.trailing_s, side="left")
        return self._stats(self._v[lo:p], TRAILING, self._cfg.min_points)

    def _stats(self, x: np.ndarray, kind: str, needed: int) -> Baseline | None:
        x = x[np.isfinite(x)]
        if len(x) < needed:
            return None
        median = float(np.median(x))
        sigma = float(median_abs_deviation(x, scale="normal"))
        if sigma == 0:
            sigma = _MEAN_AD_TO_SIGMA * float(np.mean(np.abs(x - median)))
        c = self._cfg
        half = max(c.k * sigma, c.min_band_abs, c.min_band_rel * abs(median))
        return Baseline(median, sigma, half, kind, len(x))
