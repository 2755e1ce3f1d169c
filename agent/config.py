"""Typed configuration: defaults < YAML file < `INFERWATCH_*` environment < command line.

Every section is a pydantic model, validated once at start; the resulting `Settings`
object is passed in to whatever needs it (nothing reads the environment later).
Nested keys in the environment use a double underscore:
`INFERWATCH_UPSTREAM__TIMEOUTS__CONNECT_S=2`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from agent.cost.config import CostConfig
from agent.safety.config import SafetyConfig
from agent.server_config import AdminConfig, ServerLimits
from agent.shipping.config import ElasticsearchConfig
from agent.store.config import StoreConfig
from collectors.config import CollectorsConfig
from serving.config import ServingConfig


class _Section(BaseModel):
    # Unknown keys are errors: a typo in the config file must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


class ListenConfig(_Section):
    """Where the agent listens."""

    host: str = Field("127.0.0.1", description="Address the agent binds.")
    port: int = Field(
        8000, ge=0, le=65535, description="Port the agent binds (0 picks a free one)."
    )


class TimeoutsConfig(_Section):
    """Timeouts of calls to the upstream vLLM server, in seconds."""

    connect_s: float = Field(5.0, gt=0, description="TCP connect to the upstream.")
    first_byte_s: float = Field(
        600.0, gt=0, description="From sending the request to the upstream's response headers."
    )
    idle_s: float = Field(120.0, gt=0, description="Longest silence between two response chunks.")


class UpstreamConfig(_Section):
    """The vLLM OpenAI-compatible server behind the agent."""

    url: str | None = Field(
        None, description="Base URL of a running vLLM server; unset means the bundled vLLM."
    )
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)
    health_path: str = Field(
        "/health", description="Path probed to tell whether the upstream is up."
    )
    max_connections: int = Field(1024, ge=1, description="Pooled connections to the upstream.")
    client: Literal["lean", "aiohttp"] = Field(
        "lean",
        description="HTTP client of the generative endpoints: `lean` (agent/httpclient.py, "
        "httptools parsing, ~4x less CPU per request) or `aiohttp` (its full client). Other "
        "paths and health probes always use aiohttp.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class LimitsConfig(ServerLimits):
    """Limits on what clients may send (the connection limits are in ServerLimits)."""

    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above it)."
    )


class TenantsConfig(_Section):
    """How a request's tenant is found."""

    header: str = Field("x-tenant-id", description="Request header naming the tenant.")
    default: str = Field("default", description="Tenant of requests that name none.")
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Map of tenant name to its bearer API key (the key is never stored or logged).",
    )


class MetricsConfig(_Section):
    """Prometheus exposition."""

    max_tenants: int = Field(
        50, ge=1, description="Distinct tenant label values; later tenants are labelled `other`."
    )
    max_models: int = Field(
        20, ge=1, description="Distinct model label values; later models are labelled `other`."
    )


class OtelConfig(_Section):
    """OpenTelemetry span export (off unless an endpoint is set)."""

    endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces."
    )
    service_name: str = Field("inferwatch", description="`service.name` of the spans.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra headers sent with each export (masked)."
    )


class LoggingConfig(_Section):
    """The agent's own logs (JSON lines on stderr)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["json", "text"] = Field(
        "json", description="`json` lines, or `text` for humans."
    )


class PipelineConfig(_Section):
    """The bounded queue between the request path and the background consumers."""

    queue_size: int = Field(
        100_000, ge=1, description="Records held in memory before new ones are counted as dropped."
    )
    batch_size: int = Field(512, ge=1, description="Records handed to each sink at once.")


class Settings(BaseSettings):
    """The whole agent configuration."""

    model_config = SettingsConfigDict(
        env_prefix="INFERWATCH_", env_nested_delimiter="__", extra="forbid"
    )

    listen: ListenConfig = Field(default_factory=ListenConfig)
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    tenants: TenantsConfig = Field(default_factory=TenantsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    otel: OtelConfig = Field(default_factory=OtelConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    collectors: CollectorsConfig = Field(default_factory=CollectorsConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad field and why."""


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(root)"
        lines.append(f"  {where}: {e['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the effective settings: defaults < YAML `path` < environment < `overrides`.

    Raises `ConfigError` with one line per bad field.
    """
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"config file not found: {path}")

    class _Loader(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if path is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
            return tuple(sources)

    try:
        loaded = _Loader(**(overrides or {}))
    except ValidationError as err:
        raise ConfigError(_format_errors(err)) from None
    except Exception as err:  # YAML syntax errors and the like
        raise ConfigError(f"cannot read config {path}: {err}") from None
    return Settings.model_validate(loaded.model_dump())


def masked_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced by `********`."""
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********' in json mode
