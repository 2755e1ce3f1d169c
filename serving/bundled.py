"""`inferwatch up` without `--upstream`: pick or build a model, launch vLLM, put the agent
in front of it, and tell the user where to look once it is ready."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

from common.banner import format_banner
from serving import models
from serving.config import ServingConfig
from serving.supervisor import Supervisor
from serving.vllm_args import Launch, build_launch, detect_machine, free_port
from serving.vllm_log import VllmLog

RESTARTS_METRIC = "inferwatch_vllm_restarts_total"
log = logging.getLogger("inferwatch.serving")


def default_model_dir(cfg: ServingConfig, progress: bool = True) -> Path:
    """The default model, built once into `models_dir`: SmolLM2 when its wheel is
    installed (real text), else the tiny random-weight model."""
    root = Path(cfg.models_dir)
    if models.smollm2_available():
        return models.build_smollm2(root / "smollm2", progress=progress)
    return models.build_tiny(root / "tiny", progress=progress)


def check_model(cfg: ServingConfig) -> None:
    """Raise FileNotFoundError with advice when a configured model directory is no model
    (cheap: `up` checks it before anything starts; the default model is built later)."""
    if cfg.model is None:
        return
    path = Path(cfg.model)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path} is not a model directory (no config.json); build one with "
            f"`inferwatch model tiny {path}` or `inferwatch model smollm2 {path}`"
        )


def resolve_model(cfg: ServingConfig, progress: bool = True) -> Path:
    """The model directory to serve; raises FileNotFoundError with advice if it is missing."""
    if cfg.model is None:
        return default_model_dir(cfg, progress)
    check_model(cfg)
    return Path(cfg.model)


def prepare(cfg: ServingConfig, progress: bool = True) -> Launch:
    """Resolve (or build) the model and choose vLLM's arguments for this machine."""
    model_dir = resolve_model(cfg, progress)
    port = cfg.port or free_port(cfg.host)
    return build_launch(cfg, detect_machine(cfg.device), model_dir, port)


class _StartProgress:
    """A visible 'starting vLLM' indicator on stderr, ticking every half second."""

    def __init__(self, enabled: bool, tty: bool) -> None:
        self._bar: tqdm | None = None
        self._enabled, self._tty = enabled, tty
        self._said = 0

    def tick(self, elapsed: float) -> None:
        if not self._enabled:
            return
        if not self._tty:  # a log file: one log record every 10 s (JSON lines stay JSON)
            if elapsed >= self._said + 10:
                self._said = int(elapsed)
                log.info("vLLM still starting", extra={"waited_s": self._said})
            return
        if self._bar is None:
            self._bar = tqdm(desc="starting vLLM", unit="s", bar_format="{desc}: {elapsed}")
        self._bar.update()

    def done(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def banner(
    agent_url: str,
    launch: Launch,
    start_s: float,
    request_log: str | None = None,
    vllm_log: str | None = None,
    dashboard: str | None = None,
) -> str:
    """What `inferwatch up` prints once everything is ready."""
    rows = [
        ("OpenAI API", f"{agent_url}/v1   (model: {launch.served_name})"),
        ("metrics", f"{agent_url}/metrics"),
        ("health", f"{agent_url}/health"),
        ("vLLM", f"{launch.url} (supervised; restarted if it dies)"),
    ]
    if vllm_log:
        rows.append(("vLLM output", vllm_log))
    if request_log:
        rows.append(("request log", request_log))
    if dashboard:
        rows.append(("dashboard", dashboard))
    tips = [
        f"try:  curl {agent_url}/v1/chat/completions -H 'content-type: application/json' "
        f'-d \'{{"model": "{launch.served_name}", "messages": [{{"role": "user", '
        f'"content": "Hello!"}}]}}\'',
        f"demo traffic:  inferwatch demo-traffic --url {agent_url}",
    ]
    return format_banner(f"inferwatch is ready (vLLM started in {start_s:.0f}s)", rows, tips)


def attach(
    agent,
    cfg: ServingConfig,
    launch: Launch,
    progress: bool = True,
    announce=None,
    output: VllmLog | None = None,
    upstream=None,
) -> Supervisor:
    """Wire a supervisor into an `agent.app.Agent` before it starts serving.

    `announce(start_s)` is called each time vLLM becomes ready (e.g. to print `banner`);
    `output` receives vLLM's output (else the agent's logger does); `upstream` is the
    upstream this vLLM serves (default: the agent's primary, whose processes the
    collectors meter)."""
    bar = _StartProgress(progress, sys.stderr.isatty())

    def ready(took: float) -> None:
        bar.done()
        if announce is not None:
            announce(took)

    target = upstream if upstream is not None else agent.upstream
    # The collectors meter the primary's process tree only (see `metered` of upstreams).
    meter = getattr(agent, "vllm_process", None) if target is agent.upstream else None
    sup = Supervisor(
        cfg,
        launch,
        target,
        agent.instruments.get(RESTARTS_METRIC),
        output=output,
        on_ready=ready,
        on_tick=bar.tick,
        on_spawn=meter.follow if meter is not None else None,
    )
    # Starting from now, not from the supervisor's start hook: the agent's first upstream
    # probe may run before that hook, and would warn that a vLLM not yet launched is down.
    target.state.starting = True
    agent.on_startup.append(sup.start)
    agent.on_cleanup.append(sup.stop)
    return sup


def announce_ready(
    agent_url: list[str],
    launch: Launch,
    demo: bool = False,
    request_log: str | None = None,
    vllm_log: str | None = None,
    dashboard: str | None = None,
):
    """The `announce` callback of `inferwatch up`: the banner on stdout at first readiness
    (and the demo traffic if asked for), a short line after each restart. `agent_url` is
    filled in once the agent listens."""
    state = {"first": True}

    def announce(took: float) -> None:
        url = agent_url[0] if agent_url else "(agent not listening yet)"
        if not state["first"]:
            log.info("vLLM is back", extra={"start_s": round(took, 1)})
            return
        state["first"] = False
        print(banner(url, launch, took, request_log, vllm_log, dashboard), flush=True)
        if demo:
            _start_demo(url, launch.served_name)

    return announce


def _start_demo(url: str, model: str) -> None:
    import asyncio

    from serving.demo import run_demo

    async def go() -> None:
        summary = await run_demo(url, model, requests=60, concurrency=4, seed=0)
        print(summary.describe(), file=sys.stderr, flush=True)

    # Keep a reference: a task only weakly held by the loop may be collected mid-run.
    _DEMO_TASKS.add(task := asyncio.get_running_loop().create_task(go()))
    task.add_done_callback(_DEMO_TASKS.discard)


_DEMO_TASKS: set = set()
