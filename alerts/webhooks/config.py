"""Configuration of webhook receivers (section `alerts.webhooks`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class WebhookConfig(BaseModel):
    """One receiver: where notifications go, in which format, signed with which secret."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="Receiver name (routes and metrics use it).")
    url: str = Field(..., description="http(s) URL the notifications are POSTed to.")
    format: Literal["alertmanager", "slack", "json"] = Field(
        "alertmanager", description="Payload format."
    )
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key: signs each body (X-Inferwatch-Signature)."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
