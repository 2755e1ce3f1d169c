"""The `elasticsearch:` configuration section (shipping is off unless `url` is set)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class ElasticsearchConfig(BaseModel):
    """Shipping request logs to Elasticsearch (an ECS data stream). Credentials are never logged."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None, description="Elasticsearch URL, e.g. https://es:9200; unset means no shipping."
    )
    api_key: SecretStr | None = Field(None, description="API key (the encoded form); masked.")
    username: str | None = Field(None, description="Basic-auth user (with `password`).")
    password: SecretStr | None = Field(None, description="Basic-auth password; masked.")
    ca_file: Path | None = Field(None, description="PEM CA bundle to verify the server's TLS.")
    verify_certs: bool = Field(True, description="Verify the server's TLS certificate.")
    data_stream: str = Field(
        "logs-inferwatch-default",
        description="Data stream written to (type-dataset-namespace, as Elastic names them).",
    )
    template_name: str = Field("inferwatch", description="Name of the index template installed.")
    ilm_policy: str = Field("inferwatch", description="Name of the lifecycle policy installed.")
    retention_days: int = Field(
        30, ge=1, description="The lifecycle policy deletes backing indices older than this."
    )
    setup_on_start: bool = Field(
        True, description="Install the template, policy and data stream when the agent starts."
    )
    batch_size: int = Field(1000, ge=1, le=50_000, description="Documents per bulk request.")
    request_timeout_s: float = Field(30.0, gt=0, description="Timeout of one bulk request.")
    backoff_initial_s: float = Field(0.5, gt=0, description="First wait after a failed attempt.")
    backoff_max_s: float = Field(30.0, gt=0, description="Longest wait between attempts.")
    max_attempts: int = Field(
        10,
        ge=1,
        description="Answers about one document that were errors (a 5xx or other item error, "
        "with backoff between) before it goes to the store's dead-letter table. Outages, "
        "timeouts, 429 back-pressure and auth failures are not the document's fault: they "
        "are retried for as long as they last and never dead-letter anything.",
    )
    idle_poll_s: float = Field(
        0.2, gt=0, description="How often the shipper looks for new rows when it has none."
    )
    service_name: str = Field("inferwatch", description="`service.name` of every document.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticsearchConfig:
        if self.api_key is not None and self.username is not None:
            raise ValueError("set either api_key or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self
