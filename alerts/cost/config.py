"""Configuration of cost anomaly detection and budgets (section `alerts.cost`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CostAlertsConfig(BaseModel):
    """Cost series, their robust baseline, and budgets."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run cost anomaly detection in the agent.")
    interval_s: float = Field(60.0, gt=0, description="Resolution of the cost series, seconds.")
    k: float = Field(3.0, gt=0, description="Band half-width in MADs around the median.")
