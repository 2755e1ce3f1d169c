"""Detection on synthetic cost series at 1-minute resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alerts.cost.anomaly import ANOMALY, NOT_ENOUGH_DATA, OK, detect
from alerts.cost.baseline import HOUR_OF_WEEK, TRAILING
from alerts.cost.config import CostAlertsConfig

pytestmark = pytest.mark.unit

MONDAY = 1704067200  # 2024-01-01 00:00 UTC, a Monday
CFG = CostAlertsConfig()


def seasonal(days: float, seed: int = 0, level: float = 1.0) -> pd.Series:
    """Cost per minute with a daily cycle, quiet weekends and Poisson-like noise."""
    rng = np.random.default_rng(seed)
    t = MONDAY + 60.0 * np.arange(int(days * 1440))
    daily = 1.0 + 0.6 * np.sin(2 * np.pi * (t % 86400) / 86400 - np.pi / 2)
    weekend = np.where(((t - MONDAY) // 86400) % 7 >= 5, 0.4, 1.0)
    mean = level * daily * weekend
    values = rng.poisson(mean * 50) / 50.0  # 50 requests a minute at 0.02 each
    return pd.Series(values, index=(t // 60).astype(np.int64))


def test_a_3x_spike_is_an_anomaly_once_it_lasts_consecutive_intervals():
    clean = seasonal(9)
    for minutes, status in [(CFG.consecutive - 1, OK), (CFG.consecutive, ANOMALY)]:
        s = clean.copy()
        s.iloc[-minutes:] *= 3
        v = detect(s, CFG)
        assert v.status == status, minutes
        assert v.run == minutes
    assert v.baseline == HOUR_OF_WEEK
    expected = s.iloc[-minutes:].sum() / 3
    assert v.size == pytest.approx(2 * expected, rel=0.35)
    assert v.observed > v.expected and v.score > CFG.k
    assert v.first == s.index[-minutes] and v.last == s.index[-1]


def test_a_clean_seasonal_series_never_alerts_over_a_week():
    s = seasonal(15, seed=3)
    ends = range(len(s) - 7 * 1440, len(s), 7)
    flagged = [e for e in ends if detect(s.iloc[: e + 1], CFG).status == ANOMALY]
    assert flagged == []


def test_the_hour_of_week_baseline_is_used_once_history_allows_and_trailing_before():
    assert detect(seasonal(3), CFG).baseline == TRAILING
    assert detect(seasonal(8), CFG).baseline == HOUR_OF_WEEK


def test_the_seasonal_baseline_expects_the_same_hour_last_week():
    s = seasonal(8)
    # Monday 12:00 of week two: the trailing 3 h would expect the morning ramp's lower level
    monday_noon = (MONDAY + 7 * 86400 + 12 * 3600) // 60
    v = detect(s.loc[:monday_noon], CFG)
    same_hour = s.loc[monday_noon - 7 * 1440 - 60 : monday_noon - 7 * 1440 + 60]
    assert v.expected == pytest.approx(same_hour.median(), rel=0.15)


def test_a_flat_series_with_mad_zero_does_not_alert_on_a_small_wiggle():
    s = pd.Series(np.full(600, 0.5), index=np.arange(600, dtype=np.int64))
    s.iloc[-5:] = 0.5 + 0.05  # +10%: under the relative floor
    assert detect(s, CFG).status == OK
    s.iloc[-5:] = 1.0
    assert detect(s, CFG).status == ANOMALY


def test_a_zero_series_does_not_alert_on_a_sub_floor_amount():
    s = pd.Series(np.zeros(600), index=np.arange(600, dtype=np.int64))
    s.iloc[-5:] = CFG.min_band_abs / 2
    assert detect(s, CFG).status == OK


def test_a_cost_drop_is_paged_only_when_configured():
    s = seasonal(9)
    s.iloc[-10:] = 0.0
    assert detect(s, CFG).status == OK
    assert detect(s, CFG.model_copy(update={"direction": "down"})).status == ANOMALY
    assert detect(s, CFG.model_copy(update={"direction": "both"})).status == ANOMALY


def test_too_little_history_is_not_enough_data_never_an_anomaly():
    s = pd.Series([0.0] * 10 + [100.0] * 5, index=np.arange(15, dtype=np.int64))
    assert detect(s, CFG).status == NOT_ENOUGH_DATA
    assert detect(s.iloc[:0], CFG).status == NOT_ENOUGH_DATA


def test_missing_points_of_a_ratio_series_are_never_outside():
    s = pd.Series(np.r_[np.full(100, 2.0), [np.nan] * 5], index=np.arange(105, dtype=np.int64))
    v = detect(s, CFG)
    assert v.status == OK and v.run == 0


def test_flags_agree_with_detect_at_every_point():
    from alerts.cost.anomaly import flags

    s = seasonal(1.2, seed=5)
    s.iloc[1000:1010] *= 3
    s.iloc[1500:1502] *= 3
    f = flags(s, CFG)
    run = 0
    for p in range(900, len(s)):
        run = run + 1 if f[p] else 0
        assert (detect(s.iloc[: p + 1], CFG).status == ANOMALY) == (run >= CFG.consecutive), p
    assert f[1000:1010].all() and f[1500:1502].all()
