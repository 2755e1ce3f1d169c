"""Configuration of the alert engine (section `alerts.route`, `alerts.inhibit_rules`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RouteConfig(BaseModel):
    """Alertmanager's route timers and grouping, for the one route the agent has."""

    model_config = ConfigDict(extra="forbid")

    receivers: list[str] = Field(
        default_factory=list, description="Webhook names that get every notification."
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname"], description="Labels alerts are grouped by."
    )
    group_wait_s: float = Field(
        30.0, ge=0, description="Wait before a new group's first notification."
    )
    group_interval_s: float = Field(
        300.0, gt=0, description="Wait before notifying a changed group again."
    )
    repeat_interval_s: float = Field(
        14400.0, gt=0, description="Wait before repeating an unchanged notification."
    )
