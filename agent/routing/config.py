"""The `upstreams:` and `experiments:` configuration: several model servers behind one
agent, and how traffic is shared between two of them (split, canary or shadow).

```yaml
upstreams:
  - {name: stable, url: bundled, weight: 100}        # the bundled vLLM
  - {name: candidate, url: http://10.0.0.7:8000, weight: 0}
experiments:
  - name: candidate-canary
    kind: canary                      # split | canary | shadow
    control: stable
    variant: candidate
    steps: [{weight: 1, hold_s: 600}, {weight: 5, hold_s: 600}, {weight: 25, hold_s: 1800}]
```

Everything here is checked at start, with one line per mistake: an experiment naming an
unknown upstream, weights that do not add up to 100, a canary variant that already takes
traffic, two experiments at once.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from serving.config import ServingConfig

BUNDLED = "bundled"  # an upstream `url` that names the bundled vLLM the agent starts
SPLIT, CANARY, SHADOW = "split", "canary", "shadow"
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"}
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_HEADER = re.compile(r"^header:[A-Za-z0-9-]{1,64}$")
_NAME_RULE = (
    "must be 1-63 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_name(value: str) -> str:
    # Names become metric label values and URL path segments: short, plain, unambiguous.
    if not _NAME.match(value):
        raise ValueError(_NAME_RULE)
    return value


class UpstreamSpec(_Section):
    """One model server behind the agent."""

    name: str = Field(description="The upstream's name: the `variant` of its records.")
    url: str = Field(
        description="Base URL of an OpenAI-compatible server, or `bundled` for a vLLM the "
        "agent starts (from `serving:`, with this upstream's own `serving:` keys over it)."
    )
    serving: dict[str, Any] | None = Field(
        None,
        description="A bundled upstream's own vLLM settings (its model, max_model_len, "
        "kv_cache_gib...): the keys given here replace those of the top-level `serving:`.",
    )
    weight: float = Field(
        100.0,
        ge=0,
        le=100,
        description="Percent of the requests this upstream gets. The weights of all upstreams "
        "add up to 100; 0 takes no traffic of its own (a canary's variant, a shadow target).",
    )
    api_key: SecretStr | None = Field(
        None, description="Bearer key sent to this upstream (default: `upstream.api_key`)."
    )
    metered: bool | None = Field(
        None,
        description="Whether this upstream runs on the hardware the agent meters, so its "
        "requests share the metered cost. Default: only the primary (the bundled upstream, "
        "else the first). Set true for a second server on this machine's metered GPUs; an "
        "unmetered upstream's records have no cost.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == BUNDLED:
            return v
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, or be '{BUNDLED}'")
        return v.rstrip("/")

    @field_validator("serving")
    @classmethod
    def _serving_keys(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        # Checked as `serving:` itself would be; kept as the keys given, so only they
        # replace the top level's (a whole model would replace every key with defaults).
        if v is None:
            return v
        checked = ServingConfig.model_validate(v)
        return {k: getattr(checked, k) for k in v}

    @model_validator(mode="after")
    def _serving_only_bundled(self) -> UpstreamSpec:
        if self.serving is not None and self.url != BUNDLED:
            raise ValueError(f"`serving` is for url: {BUNDLED} (the agent starts that vLLM)")
        return self

    def serving_config(self, base: ServingConfig) -> ServingConfig:
        """The vLLM settings of a bundled upstream: `base` with this upstream's keys."""
        if not self.serving:
            return base
        return ServingConfig.model_validate(base.model_dump() | self.serving)


class CanaryStep(_Section):
    """One step of a canary: the variant's share, held at least `hold_s` seconds."""

    weight: float = Field(
        gt=0, le=100, description="Percent of the pair's traffic the variant gets."
    )
    hold_s: float = Field(600.0, ge=0, description="Least time the step is held before the next.")


class GateConfig(_Section):
    """What a canary step must show before the next one: the variant may be worse than the
    control by at most these margins, at the confidence of an always-valid confidence
    sequence (so it can be looked at every `check_every_s` without inflating errors)."""

    check_every_s: float = Field(60.0, gt=0, description="How often the gate looks.")
    min_requests: int = Field(
        50, ge=10, description="Requests per arm before the gate may decide anything."
    )
    max_latency_regression: float = Field(
        0.10, ge=0, description="Tolerated relative increase of latency (0.10: 10% slower)."
    )
    max_ttft_regression: float = Field(
        0.10, ge=0, description="Tolerated relative increase of time to first token."
    )
    max_cost_regression: float = Field(
        0.10, ge=0, description="Tolerated relative increase of the mean cost per request."
    )
    max_error_rate_increase: float = Field(
        0.01, ge=0, le=1, description="Tolerated increase of the error rate (0.01: one point)."
    )
    require_pass: bool = Field(
        False,
        description="Advance a step only once every gated metric passes (non-inferiority shown); "
        "by default a step advances when its hold time is over and no metric failed.",
    )


class ShadowConfig(_Section):
    """Which requests are copied to the variant, and when."""

    fraction: float = Field(
        0.1, gt=0, le=1, description="Share of the control's requests also sent to the variant."
    )
    mode: Literal["after", "parallel"] = Field(
        "after",
        description="`after`: the copy is sent once the client has its whole answer (the "
        "control never competes with it); `parallel`: at the same time (the pair saw the same "
        "load; cancelled when the client hangs up).",
    )
    max_in_flight: int = Field(
        16, ge=1, description="Shadow requests at once; past it a copy is skipped and counted."
    )
    max_loop_busy: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Copies are shed (skipped, counted as `shed`) while the agent's event "
        "loop spent more than this share of the last 0.1 s on the CPU: when the agent itself "
        "is the bottleneck, copies give way to the clients' requests. 1 never sheds.",
    )
    timeout_s: float = Field(
        300.0,
        gt=0,
        description="Longest a copy may take in all (besides the upstream timeouts between "
        "chunks); past it the copy is ended and counted as an error.",
    )


class ExperimentConfig(_Section):
    """One experiment between two upstreams: `control` and `variant`."""

    name: str = Field(description="The experiment's name: on every record and series.")
    kind: Literal["split", "canary", "shadow"] = Field(
        description="`split`: the upstreams' weights; `canary`: the variant's weight follows "
        "`steps`, gated; `shadow`: the control answers, a copy goes to the variant."
    )
    control: str = Field(description="Name of the upstream that is the baseline.")
    variant: str = Field(description="Name of the upstream under test.")
    sticky: str = Field(
        "none",
        description="What keeps one user on one variant: `tenant` (requests no key identified "
        "are placed at random), `header:<name>` (a session id, say; a request without it is "
        "placed at random) or `none` (each request at random: the split holds request by "
        "request).",
    )
    steps: list[CanaryStep] = Field(
        default_factory=list, description="Canary only: the variant's weights, in order."
    )
    gate: GateConfig = Field(default_factory=GateConfig)
    promote: bool = Field(
        False,
        description="Canary only: after the last step passes, send all of the pair's traffic to "
        "the variant (else it stays at the last step's weight).",
    )
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v)

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, v: str) -> str:
        if v in ("tenant", "none"):
            return v
        if not _HEADER.match(v):
            raise ValueError("must be 'tenant', 'none' or 'header:<header name>'")
        header = v.partition(":")[2].lower()
        if header in _SECRET_HEADERS:
            # Hashing a credential into the routing key keeps it in memory for nothing; use
            # `sticky: tenant` (the agent's tenant keys) or a session header instead.
            raise ValueError(f"{header} carries a credential: use 'tenant' or a session header")
        return v.lower()

    @model_validator(mode="after")
    def _shape(self) -> ExperimentConfig:
        if self.control == self.variant:
            raise ValueError("control and variant must be two different upstreams")
        if self.kind == CANARY and not self.steps:
            raise ValueError("a canary needs `steps` (for example [{weight: 5, hold_s: 600}])")
        if self.kind != CANARY and self.steps:
            raise ValueError(f"`steps` is for canaries; this experiment is a {self.kind}")
        weights = [s.weight for s in self.steps]
        if weights != sorted(weights):
            raise ValueError(f"canary step weights must not decrease: {weights}")
        return self

    @property
    def header(self) -> str | None:
        """The header that keeps a user on one variant, when `sticky` names one."""
        return self.sticky.partition(":")[2] if self.sticky.startswith("header:") else None


def check_routing(upstreams: list[UpstreamSpec], experiments: list[ExperimentConfig]) -> None:
    """The rules across both lists; ValueError naming what is wrong."""
    names = [u.name for u in upstreams]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"upstream names must be unique: {', '.join(dupes)}")
    if upstreams:
        total = sum(u.weight for u in upstreams)
        if abs(total - 100.0) > 1e-6:
            shown = ", ".join(f"{u.name}={u.weight:g}" for u in upstreams)
            raise ValueError(
                f"upstream weights must add up to 100, they add up to {total:g} ({shown})"
            )
    if experiments and not upstreams:
        raise ValueError("experiments need `upstreams` (at least the control and the variant)")
    if len(experiments) > 1:
        raise ValueError("one experiment at a time: end one before starting the next")
    by_name = {u.name: u for u in upstreams}
    for exp in experiments:
        for role in ("control", "variant"):
            name = getattr(exp, role)
            if name not in by_name:
                known = ", ".join(names)
                raise ValueError(
                    f"experiment {exp.name}: {role} '{name}' is not an upstream (known: {known})"
                )
        control, variant = by_name[exp.control], by_name[exp.variant]
        if control.weight <= 0:
            raise ValueError(f"experiment {exp.name}: the control '{control.name}' has weight 0")
        if exp.kind == SPLIT and variant.weight <= 0:
            raise ValueError(
                f"experiment {exp.name}: a split's variant '{variant.name}' needs a weight > 0"
            )
        if exp.kind in (CANARY, SHADOW) and variant.weight > 0:
            raise ValueError(
                f"experiment {exp.name}: a {exp.kind}'s variant '{variant.name}' must have "
                f"weight 0 (the {'steps give' if exp.kind == CANARY else 'shadow gives'} it "
                "its traffic)"
            )
