"""Configuration of the alert engine (section `alerts.route`, `alerts.inhibit_rules`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.engine.matchers import parse_matchers


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
    send_resolved: bool = Field(
        True, description="Notify receivers when a group's alerts resolve (Alertmanager's default)."
    )
    max_alerts: int = Field(
        0,
        ge=0,
        description="Most alerts in one notification; the rest are counted in truncatedAlerts "
        "(0: no limit).",
    )


class InhibitRuleConfig(BaseModel):
    """Alertmanager's inhibit rule: a firing alert matching `source_matchers` mutes the
    alerts matching `target_matchers` that have the same values of the `equal` labels."""

    model_config = ConfigDict(extra="forbid")

    source_matchers: list[str] = Field(description='Matchers such as `alertname="X"`.')
    target_matchers: list[str] = Field(description="Matchers of the alerts to mute.")
    equal: list[str] = Field(
        default_factory=list, description="Labels that must have equal values in both."
    )

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        parse_matchers(value)  # a bad matcher is an error at start, with its reason
        return value


def default_inhibit_rules() -> list[InhibitRuleConfig]:
    """The issue's rule: a used-up budget mutes the cost-spike alert of the same tenant."""
    return [
        InhibitRuleConfig(
            source_matchers=['alertname="InferwatchBudgetExhausted"'],
            target_matchers=['alertname="InferwatchCostAnomaly"'],
            equal=["tenant"],
        )
    ]
