"""Configuration of the alerts section: detectors, the alert engine and its receivers.

Every duration is in seconds, so a test can run a whole drift-then-alert scenario in
about a minute with small values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.cost.config import CostAlertsConfig
from alerts.drift.config import DriftConfig
from alerts.engine.config import InhibitRuleConfig, RouteConfig, default_inhibit_rules
from alerts.webhooks.config import DeliveryConfig, WebhookConfig


class ExperimentAlertsConfig(BaseModel):
    """Section `alerts.experiments`: alerts on what the agent decided in an experiment."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True,
        description="Raise InferwatchCanaryRolledBack when a canary's gate failed and it was "
        "rolled back (until it is started again).",
    )


class AlertsConfig(BaseModel):
    """Section `alerts`: what is detected, how alerts are grouped, where they are sent."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        False, description="Run the detectors and the alert engine inside the agent."
    )
    interval_s: float = Field(60.0, gt=0, description="Evaluation interval of the detectors.")
    idle_priority: bool = Field(
        True,
        description="Run the evaluation process in Linux's SCHED_IDLE class: it only uses CPU "
        "that serving does not want (on a saturated node evaluations then wait).",
    )
    source: Literal["store", "elasticsearch"] = Field(
        "store",
        description="Records the detectors read: this agent's embedded store, or the fleet's "
        "request log in Elasticsearch (elasticsearch.url and its credentials).",
    )
    external_url: str = Field(
        "", description="URL of this agent as receivers should link to it (externalURL)."
    )
    drift: DriftConfig = Field(default_factory=DriftConfig)
    cost: CostAlertsConfig = Field(default_factory=CostAlertsConfig)
    experiments: ExperimentAlertsConfig = Field(default_factory=ExperimentAlertsConfig)
    route: RouteConfig = Field(default_factory=RouteConfig)
    inhibit_rules: list[InhibitRuleConfig] = Field(
        default_factory=default_inhibit_rules,
        description="Alertmanager's inhibit rules; the default: a used-up budget mutes the "
        "cost-anomaly alert of the same tenant.",
    )
    webhooks: list[WebhookConfig] = Field(
        default_factory=list,
        description="Webhook receivers: name, url, format, secret, headers, timeout_s "
        "(see Webhooks).",
    )
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="When set, the only hosts a webhook URL may name (checked at start).",
    )

    @model_validator(mode="after")
    def _receivers_usable(self) -> AlertsConfig:
        # At load, so `inferwatch up` and `config show` refuse it as any bad setting
        # (one line, status 2), not with a traceback from the sender at start.
        from alerts.webhooks.hosts import check_receivers

        check_receivers(self)
        names = {h.name for h in self.webhooks}
        unknown = [r for r in self.route.receivers if r not in names]
        if unknown:
            raise ValueError(
                f"alerts.route.receivers names {unknown}, which no alerts.webhooks entry "
                f"defines (defined: {sorted(names)})"
            )
        return self
