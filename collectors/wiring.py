"""Wiring the collectors into the agent: one call from `agent/app.py`, and the CLI flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from urllib.parse import urlsplit

from collectors.base import Collector
from collectors.config import CollectorsConfig
from collectors.host import HostCollector
from collectors.nvml import NvmlCollector
from collectors.process_tree import VllmProcessFinder
from collectors.registry import CollectorRunner

# Collectors that can be switched on the command line; `vllm` is built by collectors/vllm.py.
SWITCHABLE = {
    "nvml": "NVIDIA GPUs through NVML",
    "host": "host CPU and memory, and the vLLM process tree's CPU time",
    "vllm": "scrape of the vLLM server's own /metrics",
}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}


def attach_collectors(agent, settings, extra: Sequence[Collector] = ()) -> CollectorRunner:
    """Build the enabled collectors, register their runner on `agent.registry`, and start /
    stop it with the agent (through `agent.on_startup` / `agent.on_cleanup`).

    Sets `agent.collectors` (the runner) and `agent.vllm_process`, the `VllmProcessFinder`
    the collectors meter: a supervisor that starts vLLM hands it each process's pid
    (`follow`), so metering never waits for a port lookup."""
    finder = vllm_finder(settings.collectors, _upstream_url(agent, settings))
    runner = build_runner(settings.collectors, extra=extra, vllm=finder)
    agent.registry.register(runner)
    agent.collectors = runner
    agent.vllm_process = finder

    async def start(_agent) -> None:
        runner.start()

    async def stop(_agent) -> None:
        await runner.stop()

    agent.on_startup.append(start)
    agent.on_cleanup.append(stop)
    return runner


def vllm_finder(cfg: CollectorsConfig, upstream_url: str | None = None) -> VllmProcessFinder:
    """The vLLM process tree to meter: `vllm_pid`, else the process on `vllm_port` or on the
    port of a local `upstream_url` (until a supervisor hands over a pid)."""
    return VllmProcessFinder(cfg.vllm_pid, cfg.vllm_port or local_port(upstream_url))


def build_runner(
    cfg: CollectorsConfig,
    upstream_url: str | None = None,
    extra: Sequence[Collector] = (),
    vllm: VllmProcessFinder | None = None,
) -> CollectorRunner:
    """The runner of every collector `cfg` leaves enabled (built-in ones, then `extra`),
    metering `vllm` (by default `vllm_finder(cfg, upstream_url)`)."""
    vllm = vllm if vllm is not None else vllm_finder(cfg, upstream_url)
    builtin: list[Collector] = [
        NvmlCollector(
            dcgm_compat=cfg.dcgm_compat, hostname=cfg.hostname, library=cfg.nvml_library, vllm=vllm
        ),
        HostCollector(vllm, hostname=cfg.hostname),
    ]
    chosen = [c for c in [*builtin, *extra] if cfg.is_enabled(c.name)]
    return CollectorRunner(chosen, cfg)


def local_port(url: str | None) -> int | None:
    """The port of an upstream URL on this host (where its process can be found), else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.hostname not in _LOCAL_HOSTS:
        return None
    return parts.port or (443 if parts.scheme == "https" else 80)


def _upstream_url(agent, settings) -> str | None:
    upstream = getattr(agent, "upstream", None)
    return getattr(upstream, "url", None) or settings.upstream.url


def add_collector_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--collector.<name>` / `--no-collector.<name>` switches and the dcgm-compat switch."""
    group = parser.add_argument_group("collectors")
    for name, what in SWITCHABLE.items():
        group.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"enable or disable the {name} collector: {what} (config: collectors.enabled.{name}; default on)",
        )
    group.add_argument(
        "--collector.nvml.dcgm-compat",
        dest="collector_dcgm_compat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also expose GPU metrics under dcgm-exporter's DCGM_FI_* names "
        "(config: collectors.dcgm_compat; default off)",
    )


def collector_overrides(args: argparse.Namespace) -> dict:
    """The settings overrides of the collector flags given on the command line ({} if none)."""
    enabled = {
        name: value
        for name in SWITCHABLE
        if (value := getattr(args, f"collector_{name}", None)) is not None
    }
    section: dict = {"enabled": enabled} if enabled else {}
    dcgm = getattr(args, "collector_dcgm_compat", None)
    if dcgm is not None:
        section["dcgm_compat"] = dcgm
    return {"collectors": section} if section else {}
