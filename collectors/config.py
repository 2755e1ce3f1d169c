"""The `collectors:` config section: how often the hardware is read, and which collectors run."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CollectorsConfig(BaseModel):
    """Periodic collectors (NVML GPUs, host CPU/memory, vLLM scrape) and their registry."""

    # As agent.config's sections (not imported from there: agent.config imports this module).
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(
        2.0, gt=0, description="Seconds between two collections (each tick reads every collector)."
    )
    timeout_s: float = Field(
        1.0,
        gt=0,
        description="Time limit of one collection of one collector; a slower one counts as failed.",
    )
    timeouts: dict[str, float] = Field(
        default_factory=dict,
        description="Per-collector time limits in seconds, overriding `timeout_s` (e.g. {vllm: 2}).",
    )
    enabled: dict[str, bool] = Field(
        default_factory=dict,
        description="Per-collector switches, e.g. {nvml: false}; a collector not named runs "
        "if it is on by default (all built-in ones are). A name no collector has is an error.",
    )
    dcgm_compat: bool = Field(
        False,
        description="Also expose GPU metrics under dcgm-exporter's DCGM_FI_* names and labels, "
        "so Grafana boards built for dcgm-exporter work unchanged.",
    )
    nvml_library: str | None = Field(
        None,
        description="Path of libnvidia-ml.so.1 when the loader cannot find it (a driver mounted "
        "in an unusual place); unset uses the system's.",
    )
    vllm_pid: int | None = Field(
        None, ge=1, description="PID of the vLLM server whose process tree is metered."
    )
    vllm_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="TCP port the vLLM server listens on, to find its process when no PID is "
        "given; unset means the port of a local `upstream.url`.",
    )
    hostname: str | None = Field(
        None, description="Host name put on device ids and dcgm labels; unset uses the system's."
    )

    def is_enabled(self, name: str, default: bool = True) -> bool:
        """Whether the collector `name` should run: its switch, else `default` (the
        collector's registered default, on for most)."""
        return self.enabled.get(name, default)

    def timeout_for(self, name: str) -> float:
        """The time limit of one collection of `name`."""
        return self.timeouts.get(name, self.timeout_s)
