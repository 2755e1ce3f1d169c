"""Typed configuration: defaults < YAML file < `INFERWATCH_*` environment < command line.

Every section is a pydantic model, validated once at start; the resulting `Settings`
object is passed in to whatever needs it (nothing reads the environment later).
Nested keys in the environment use a double underscore:
`INFERWATCH_UPSTREAM__TIMEOUTS__CONNECT_S=2`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from agent.cost.config import CostConfig
from agent.routes import RoutesConfig
from agent.routing.config import ExperimentConfig, UpstreamSpec, check_routing
from agent.safety.config import SafetyConfig
from agent.server_config import AdminConfig, ServerLimits
from agent.shipping.config import ElasticsearchConfig
from agent.store.config import StoreConfig
from alerts.config import AlertsConfig
from collectors.config import CollectorsConfig
from common.masking import argv_secrets, mask_argv, mask_url, url_secrets
from dashboards.settings import DashboardConfig
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
    keepalive_s: float = Field(
        4.0,
        gt=0,
        description="How long an idle pooled connection to the upstream is kept. Under the "
        "upstream's own keep-alive (vLLM/uvicorn close idle connections after 5 s), or a request "
        "sent as it closes one fails with 502.",
    )
    max_response_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Largest non-streamed answer the agent takes from the upstream (it holds "
        "one whole, to scan and meter it); past it the client gets 502. Streams are relayed "
        "chunk by chunk and have no such bound.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="Bearer key the agent sends to the upstream (vLLM's --api-key). With it, "
        "or with `tenants.api_keys`, a client's own Authorization is never forwarded: "
        "tenants' keys stay with the agent. User and password in `url` are sent as Basic "
        "authentication the same way.",
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
        description="Map of tenant name to its bearer API key (the key is never stored or "
        "logged). When set, the key decides the tenant and the header is not trusted.",
    )
    require_key: bool = Field(
        False,
        description="Answer 401 to requests without a key from `api_keys` (needs `api_keys`).",
    )
    known: list[str] = Field(
        default_factory=list,
        description="Tenants whose names always keep their own metric label (those of "
        "`api_keys` always do); others share the `metrics.max_tenants` slots, then `other`.",
    )

    @model_validator(mode="after")
    def _key_needed(self) -> TenantsConfig:
        if self.require_key and not self.api_keys:
            raise ValueError("require_key needs api_keys")
        return self


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
    """The agent's own logs, on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="`text`: one human-readable line per event (time, level, message, "
        "key=value extras); `json`: JSON lines; `auto`: text when stderr is a terminal, else JSON.",
    )


class PipelineConfig(_Section):
    """The bounded queue between the request path and the background consumers."""

    queue_size: int = Field(
        100_000, ge=1, description="Records held in memory before new ones are counted as dropped."
    )
    batch_size: int = Field(512, ge=1, description="Records handed to each sink at once.")
    max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Approximate memory of the records held in the queue; past it new records "
        "are counted as dropped (`queue_bytes`), as past `queue_size`.",
    )


class Settings(BaseSettings):
    """The whole agent configuration."""

    model_config = SettingsConfigDict(
        env_prefix="INFERWATCH_", env_nested_delimiter="__", extra="forbid"
    )

    listen: ListenConfig = Field(default_factory=ListenConfig)
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    upstreams: list[UpstreamSpec] = Field(
        default_factory=list,
        description="Several model servers behind the agent, each with a name and a weight "
        "(see agent/routing/config.py); unset: `upstream.url`, or the bundled vLLM, alone.",
    )
    experiments: list[ExperimentConfig] = Field(
        default_factory=list,
        description="A split, canary or shadow experiment between two of `upstreams`.",
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    routes: RoutesConfig = Field(default_factory=RoutesConfig)
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
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)

    @model_validator(mode="after")
    def _routing(self) -> Settings:
        check_routing(self.upstreams, self.experiments)
        gated = [e.name for e in self.experiments if e.kind == "canary"]
        if gated and not self.store.enabled:
            raise ValueError(f"canary {gated[0]} is gated on the store's records: store.enabled")
        if self.upstreams and self.upstream.url is not None:
            raise ValueError(
                "set either upstream.url or upstreams (an upstream's url may be 'bundled')"
            )
        return self


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad field and why."""


_ENV_PREFIX = "INFERWATCH_"
_ENV_NESTING = "__"


def _env_name(loc: tuple) -> str:
    return _ENV_PREFIX + _ENV_NESTING.join(str(p) for p in loc).upper()


def _from_env(loc: tuple, environ: Mapping[str, str]) -> str | None:
    """The environment variable that supplied the key at `loc`, if one did."""
    for depth in range(len(loc), 0, -1):  # a whole section may come as one JSON variable
        name = _env_name(loc[:depth])
        if any(k.upper() == name for k in environ):
            return name
    return None


def _valid_keys(loc: tuple) -> list[str]:
    """The keys the config model accepts beside the last element of `loc`."""
    model: Any = Settings
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _suggestion(loc: tuple, from_env: bool) -> str:
    close = difflib.get_close_matches(str(loc[-1]), _valid_keys(loc), n=1, cutoff=0.6)
    if not close:
        return ""
    fixed = (*loc[:-1], close[0])
    shown = _env_name(fixed) if from_env else ".".join(str(p) for p in fixed)
    return f"; did you mean {shown}?"


def _describe(err: ErrorDetails, environ: Mapping[str, str]) -> str:
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(root)"
    env = _from_env(loc, environ) if loc else None
    source = f" (from environment variable {env})" if env else ""
    if err["type"] != "extra_forbidden":
        return f"  {where}{source}: {err['msg']}"
    return f"  {where}{source}: unknown key{_suggestion(loc, env is not None)}"


def _format_errors(err: ValidationError, environ: Mapping[str, str]) -> str:
    lines = [_describe(e, environ) for e in err.errors()]
    return "invalid configuration:\n" + "\n".join(lines)


def _unknown_env_sections(environ: Mapping[str, str]) -> list[str]:
    """`INFERWATCH_X__Y` variables whose section `x` does not exist. pydantic-settings
    ignores them silently; the `__` shows they were meant as configuration (other
    `INFERWATCH_*` names, used by tests and tools, have none)."""
    lines = []
    for name in sorted(environ):
        parts = name.upper().removeprefix(_ENV_PREFIX).lower().split(_ENV_NESTING)
        if not name.upper().startswith(_ENV_PREFIX) or len(parts) < 2:
            continue
        if parts[0] not in Settings.model_fields:
            close = difflib.get_close_matches(parts[0], list(Settings.model_fields), n=1)
            hint = f"; did you mean {_env_name((close[0], *parts[1:]))}?" if close else ""
            lines.append(f"  {parts[0]} (from environment variable {name}): unknown key{hint}")
    return lines


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

    environ = dict(os.environ)
    if bad_env := _unknown_env_sections(environ):
        raise ConfigError("invalid configuration:\n" + "\n".join(bad_env))
    try:
        loaded = _Loader(**(overrides or {}))
    except ValidationError as err:
        raise ConfigError(_format_errors(err, environ)) from None
    except Exception as err:  # YAML syntax errors and the like
        raise ConfigError(f"cannot read config {path}: {err}") from None
    return Settings.model_validate(loaded.model_dump())


def masked_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced by `********`: secret fields,
    the password of every URL, and secret flags in `serving.extra_args`."""
    data = settings.model_dump(mode="json")  # SecretStr dumps as '**********' in json mode
    return _mask_values(data)


def _mask_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_values(v) for k, v in value.items()}
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return mask_argv(value)  # argument lists (serving.extra_args)
        return [_mask_values(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def secret_values(settings: Settings) -> set[str]:
    """Every secret the settings hold, in clear: masked wherever it might be printed
    (the agent's logs, vLLM's output)."""
    found: set[str] = set()
    _collect_secrets(settings, found)
    return found


def _collect_secrets(value: Any, found: set[str]) -> None:
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, dict):
        for v in value.values():
            _collect_secrets(v, found)
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        found.update(argv_secrets(value))
    elif isinstance(value, str):
        found.update(url_secrets(value))
