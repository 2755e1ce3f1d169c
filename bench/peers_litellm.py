"""The LiteLLM proxy as a peer of the benchmark: its own virtual environment (never the
project's: `litellm[proxy]` pins many packages), its config, and its process.

Leanest configuration, so that the comparison flatters it: one uvicorn worker (in-process,
uvloop), no master key and no database (so no auth lookups, spend logs or error logs
written anywhere; `disable_spend_logs` and `disable_error_logs` say so as well), no
callbacks, message logging off, uvicorn's access log off, LiteLLM's own log at ERROR,
telemetry off, the bundled model cost map (no fetch at start). One model, `instant`,
routed to the instant upstream as an OpenAI-compatible endpoint (`openai/` provider).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.proxy_procs import BENCH, Server, free_port, start

VENV = BENCH / ".peers-venv"
# 1.82.7 and 1.82.8 on PyPI were a supply-chain compromise (credential stealer), and a later
# 1.107.0 was reported as compromised too: pin a release from before either, reviewed by many.
VERSION = "1.82.6"
MODEL = "instant"
LOG_CONFIG = {  # uvicorn's: warnings and errors to stderr, no access log
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"err": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["err"], "level": "WARNING"},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}


def python(venv: Path = VENV) -> Path:
    """The interpreter of LiteLLM's virtual environment."""
    return venv / "bin" / "python"


def installed(venv: Path = VENV) -> str | None:
    """LiteLLM's version in `venv`, or None when the environment or the package is absent."""
    if not python(venv).exists():
        return None
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    out = subprocess.run([python(venv), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def setup(venv: Path = VENV, version: str = VERSION) -> str:
    """Create `venv` (python -m venv) and pip-install `litellm[proxy]==version` from PyPI."""
    if not python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [python(venv), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, f"litellm[proxy]=={version}"], check=True)
    got = installed(venv)
    if got is None:
        raise RuntimeError(f"litellm did not install into {venv}")
    return got


def config(upstream: str) -> dict:
    """The proxy's config (JSON is YAML): one model to `upstream`, everything optional off."""
    params = {"model": f"openai/{MODEL}", "api_base": f"{upstream}/v1", "api_key": "none"}
    return {
        "model_list": [{"model_name": MODEL, "litellm_params": params}],
        "litellm_settings": {
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
            "drop_params": True,
            "set_verbose": False,
            "turn_off_message_logging": True,
        },
        "general_settings": {"disable_spend_logs": True, "disable_error_logs": True},
    }


def start_litellm(upstream: str, tmp: Path, venv: Path = VENV) -> Server:
    """The LiteLLM proxy (one worker) in front of `upstream`, on a free port, ready."""
    cfg, log = tmp / "litellm.yaml", tmp / "litellm-log.json"
    cfg.write_text(json.dumps(config(upstream)))
    log.write_text(json.dumps(LOG_CONFIG))
    port = free_port()
    argv = ["-m", "litellm.proxy.proxy_cli", "--config", str(cfg), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--num_workers", "1", "--telemetry", "False"]
    argv += ["--log_config", str(log)]
    return start(
        "litellm", argv, port, "/health/liveliness", ENV, cwd=tmp, python=str(python(venv))
    )
