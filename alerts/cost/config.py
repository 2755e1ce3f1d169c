"""Configuration of cost anomaly detection and budgets (section `alerts.cost`)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEK_S = 7 * 86400.0


class BudgetConfig(BaseModel):
    """One tenant's budget for a UTC day or month, with the shares of it that alert."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, description="Tenant the budget applies to.")
    period: Literal["day", "month"] = Field("day", description="UTC day or UTC calendar month.")
    amount: float = Field(gt=0, description="Budget for one period, in the cost currency.")
    thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 0.8, 0.95, 1.0],
        description="Shares of the budget that each alert once per period; 1.0 is the "
        "exhausted alert, which fires whether listed or not.",
    )

    @field_validator("amount")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("a budget amount must be finite")
        return v

    @field_validator("thresholds")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if any(not (0 < t <= 1) for t in v):
            raise ValueError("budget thresholds are shares of the budget in (0, 1]")
        return sorted(set(v))


class CostAlertsConfig(BaseModel):
    """Cost series, their robust baseline, and budgets."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run cost anomaly detection in the agent.")
    interval_s: float = Field(60.0, gt=0, description="Resolution of the cost series, seconds.")
    k: float = Field(3.0, gt=0, description="Band half-width in MADs around the median.")
    consecutive: int = Field(
        3, ge=1, description="Intervals in a row outside the band before an anomaly fires."
    )
    direction: Literal["up", "down", "both"] = Field(
        "up", description="Which side of the band alerts (a cost drop is not paged by default)."
    )
    min_band_abs: float = Field(
        0.01,
        ge=0,
        description="Smallest band half-width, in currency per interval: a flat series has "
        "MAD 0, and without a floor a sub-cent wiggle would be infinitely many MADs.",
    )
    min_band_rel: float = Field(
        0.25,
        ge=0,
        description="Smallest band half-width as a share of the expected value: a change "
        "smaller than this is not worth paging, however quiet the series is.",
    )
    seasonal_weeks: int = Field(
        2, ge=1, description="Past weeks whose same hour of week form the seasonal baseline."
    )
    seasonal_min_points: int = Field(
        60,
        ge=3,
        description="Points an hour-of-week slot needs in those weeks before the seasonal "
        "baseline replaces the trailing one (60: one week's hour at 1-minute resolution).",
    )
    trailing_s: float = Field(
        3 * 3600.0, gt=0, description="Trailing baseline window, used before a week of history."
    )
    min_points: int = Field(
        30, ge=3, description="Points a baseline needs; fewer is reported as not enough data."
    )
    max_stretch_s: float = Field(
        6 * 3600.0, gt=0, description="How far back an anomaly's stretch (and its size) is traced."
    )
    max_segments: int = Field(
        20, ge=0, description="Tenants and models (each) watched as segments, by spend."
    )
    series: list[Literal["cost", "cost_per_1k_output", "requests"]] = Field(
        ["cost"],
        description="Series that are checked for anomalies.",  # copied per instance
    )
    settle_s: float = Field(
        600.0,
        ge=0,
        description="Intervals younger than this are read again at each evaluation (records "
        "arrive late, and their cost is known only once metered); older ones are kept aggregated.",
    )
    read_chunk_s: float = Field(
        86400.0, gt=0, description="Longest range one read asks the record source for."
    )
    forecast_window_s: float = Field(
        3600.0, gt=0, description="Trailing window of the spend rate a budget forecast uses."
    )
    forecast_buckets: int = Field(
        6, ge=1, description="The forecast rate is the median of this many buckets' rates."
    )
    budgets: list[BudgetConfig] = Field(
        default_factory=list,
        description="Budgets with thresholds per tenant per UTC day or month, alerted by the "
        "alert engine. The older `cost.budgets` (one daily amount per tenant) is separate: it "
        "drives the live gauge inferwatch_cost_budget_ratio from the cost engine's running "
        "totals; these are computed from the request log and carry forecasts.",
    )

    def history_s(self) -> float:
        """How far back one evaluation's anomaly baseline reaches: the seasonal weeks, one
        slot hour, and the longest stretch traced (budgets may reach to their period start)."""
        return self.seasonal_weeks * WEEK_S + 3600.0 + self.max_stretch_s
