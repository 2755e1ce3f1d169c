"""Wiring the collectors into the agent: one call from `agent/app.py`, and the CLI flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

# The built-in collectors. Importing each module registers its collector (name, default,
# factory) in collectors/factory.py's table: the one import-time side effect these modules
# have, which self-registration cannot do without. The imports are explicit, here and
# nowhere else, so these lines list every collector (a new one adds its module here) and
# nothing registers behind a reader's back (no package scanning).
from collectors import host as _host
from collectors import nvml as _nvml
from collectors import vllm as _vllm
from collectors.base import Collector
from collectors.config import CollectorsConfig
from collectors.factory import COLLECTORS, CollectorContext, CollectorTable
from collectors.process_tree import VllmProcessFinder
from collectors.registry import CollectorRunner

BUILTIN_MODULES = (_host, _nvml, _vllm)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}


def attach_collectors(
    agent, settings, extra: Sequence[Collector] = (), vllm: VllmProcessFinder | None = None
) -> CollectorRunner:
    """Build the enabled collectors, register their runner on `agent.registry`, and start /
    stop it with the agent (through `agent.on_startup` / `agent.on_cleanup`). Returns it.

    `vllm` is the process tree the collectors meter (by default found from the upstream
    URL's port): a supervisor that starts vLLM hands it each process's pid (`follow`), so
    metering never waits for a port lookup."""
    url = _upstream_url(agent, settings)
    finder = vllm or vllm_finder(settings.collectors, url)
    # vLLM's /metrics cannot answer while the supervisor (re)starts it: no warning then.
    state = getattr(getattr(agent, "upstream", None), "state", None)

    def expected_down(name: str) -> bool:
        return name == "vllm" and bool(getattr(state, "starting", False))

    runner = build_runner(
        settings.collectors, url, extra=extra, vllm=finder, expected_down=expected_down
    )
    agent.registry.register(runner)

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
    table: CollectorTable = COLLECTORS,
    expected_down: Callable[[str], bool] | None = None,
) -> CollectorRunner:
    """The runner of every registered collector `cfg` leaves enabled (by name), then of
    `extra`, metering `vllm` (by default `vllm_finder(cfg, upstream_url)`). A collector in
    `extra` replaces the registered one of its name (a caller that built it itself)."""
    _check_switches(cfg, extra, table)
    ctx = CollectorContext(cfg, vllm or vllm_finder(cfg, upstream_url), upstream_url)
    given = {c.name for c in extra}
    built = []
    for reg in table.registered().values():
        if reg.name in given or not cfg.is_enabled(reg.name, reg.default_enabled):
            continue
        collector = reg.factory(ctx)
        if collector is not None:
            built.append(collector)
    enabled = [*built, *(c for c in extra if cfg.is_enabled(c.name))]
    return CollectorRunner(enabled, cfg, expected_down)


def _check_switches(
    cfg: CollectorsConfig, extra: Sequence[Collector], table: CollectorTable
) -> None:
    """A switch for a collector that does not exist is a typo, not a no-op."""
    known = set(table.registered()) | {c.name for c in extra}
    unknown = sorted(set(cfg.enabled) - known)
    if unknown:
        raise ValueError(
            f"collectors.enabled: no collector named {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )


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


def add_collector_flags(
    parser: argparse.ArgumentParser, table: CollectorTable = COLLECTORS
) -> None:
    """Add `--collector.<name>` / `--no-collector.<name>` switches and the dcgm-compat switch."""
    group = parser.add_argument_group("collectors")
    for name, reg in table.registered().items():
        group.add_argument(
            f"--collector.{name}",
            dest=f"collector_{name}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"enable or disable the {name} collector: {reg.description} "
            f"(config: collectors.enabled.{name}; default {'on' if reg.default_enabled else 'off'})",
        )
    group.add_argument(
        "--collector.nvml.dcgm-compat",
        dest="collector_dcgm_compat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also expose GPU metrics under dcgm-exporter's DCGM_FI_* names "
        "(config: collectors.dcgm_compat; default off)",
    )


def collector_overrides(args: argparse.Namespace, table: CollectorTable = COLLECTORS) -> dict:
    """The settings overrides of the collector flags given on the command line ({} if none)."""
    enabled = {
        name: value
        for name in table.registered()
        if (value := getattr(args, f"collector_{name}", None)) is not None
    }
    section: dict = {"enabled": enabled} if enabled else {}
    dcgm = getattr(args, "collector_dcgm_compat", None)
    if dcgm is not None:
        section["dcgm_compat"] = dcgm
    return {"collectors": section} if section else {}
