"""Configuration of webhook receivers (section `alerts.webhooks`) and of their delivery
from the outbox (section `alerts.delivery`)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class WebhookConfig(BaseModel):
    """One receiver: where notifications go, in which format, signed with which secret."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Receiver name (routes and metrics use it).")
    url: str = Field(..., description="http(s) URL the notifications are POSTed to.")
    format: Literal["alertmanager", "slack", "json"] = Field(
        "alertmanager", description="Payload format."
    )
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key: signs each body (X-Inferwatch-Signature)."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    timeout_s: float = Field(10.0, gt=0, description="Time limit of one delivery attempt.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url must be http(s)://HOST/...: {url!r}")
        # Credentials in a URL end up in logs, error messages and proxies' access logs;
        # an Authorization header (`headers`) carries them without that.
        if parts.username is not None or parts.password is not None:
            raise ValueError("webhook url must not hold user:password; use `headers`")
        return url


class DeliveryConfig(BaseModel):
    """How the outbox retries a receiver that fails, and when it gives up."""

    model_config = ConfigDict(extra="forbid")

    backoff_base_s: float = Field(1.0, gt=0, description="Wait before the first retry.")
    backoff_factor: float = Field(2.0, ge=1, description="Growth of the wait per attempt.")
    backoff_max_s: float = Field(300.0, gt=0, description="Longest wait between attempts.")
    backoff_jitter: float = Field(
        0.5, ge=0, le=1, description="Share of each wait drawn at random (spreads retries)."
    )
    max_attempts: int = Field(
        100, ge=1, description="Attempts before a notification is kept as a dead letter."
    )
    max_age_s: float = Field(
        86400.0, gt=0, description="Age after which an undelivered notification is a dead letter."
    )
    poll_interval_s: float = Field(
        1.0, gt=0, description="Longest wait of the sender between looks at the outbox."
    )
    retention_s: float = Field(
        604800.0, gt=0, description="How long delivered notifications and dead letters are kept."
    )
