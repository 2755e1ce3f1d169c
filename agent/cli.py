"""The `inferwatch` command: subcommands, each with a `--help` that explains every option."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Literal

import yaml

from agent import __version__
from agent.config import ConfigError, Settings, load_settings, masked_dict, secret_values
from agent.shipping.cli import add_es_command
from agent.stallwatch import watch_from_env
from agent.store.wiring import add_store_flags, store_overrides
from alerts.cli import add_alerts_command
from alerts.drift.cli import add_drift_command
from alerts.experiments.cli import add_experiments_command
from collectors.wiring import add_collector_flags, collector_overrides
from dashboards.cli import add_dashboard_command
from dashboards.grafana.cli import add_grafana_command
from dashboards.kibana.cli import add_kibana_command
from serving.cli import SERVING_SUBCOMMANDS, add_up_flags, serving_overrides

log = logging.getLogger("inferwatch.cli")
VLLM_LOG = "vllm.log"  # the bundled vLLM's output, in the data folder


def _listen(value: str) -> dict:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return {"host": host or "127.0.0.1", "port": int(port)}


def _add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file. Precedence: defaults < FILE < INFERWATCH_* environment < flags.",
    )


def _overrides(args: argparse.Namespace) -> dict:
    over: dict = {}
    if getattr(args, "listen", None):
        over["listen"] = args.listen
    if getattr(args, "upstream", None):
        over["upstream"] = {"url": args.upstream}
    over.update(collector_overrides(args))
    over.update(store_overrides(args))
    over.update(serving_overrides(args))
    return over


def settings_from(args: argparse.Namespace) -> Settings:
    """Effective settings for a parsed command line; exits 2 with the bad fields named."""
    try:
        # Flags are the init source of pydantic-settings, deep-merged over env and the file.
        return load_settings(args.config, _overrides(args))
    except ConfigError as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        raise SystemExit(2) from None


# ---- up ---------------------------------------------------------------------------------


def _add_up(sub) -> None:
    p = sub.add_parser(
        "up",
        help="run the agent in front of vLLM",
        description="Run the measuring proxy in front of a vLLM OpenAI-compatible server. "
        "Serves the proxied API, /metrics (Prometheus) and /health.",
    )
    p.add_argument(
        "--upstream",
        metavar="URL",
        help="base URL of a running vLLM server, e.g. http://127.0.0.1:8001 "
        "(config: upstream.url; without it the bundled vLLM is started)",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=_listen,
        help="where the agent listens (config: listen.host / listen.port; default 127.0.0.1:8000)",
    )
    add_store_flags(p)
    add_up_flags(p)
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="also start the Streamlit dashboard on this agent's store, as a child of the "
        "agent (where: config dashboard.host / dashboard.port, default 127.0.0.1:8501; its "
        "output goes to dashboard.log in the data folder)",
    )
    _add_config_arg(p)
    add_collector_flags(p)
    p.set_defaults(func=cmd_up)


def cmd_up(args: argparse.Namespace) -> int:
    """Start the agent and serve until SIGINT/SIGTERM."""
    settings = settings_from(args)
    from agent.logs import setup_logging

    secrets = secret_values(settings)
    setup_logging(settings.logging, secrets)
    try:
        lock = _preflight(settings)
    except CannotStart as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        return err.status
    with lock:  # held for the agent's life (the kernel drops it however the process ends)
        try:
            dashboard = _Dashboard(settings, args.config if args.dashboard else False)
        except CannotStart as err:
            print(f"inferwatch: {err}", file=sys.stderr)
            return err.status
        with dashboard:
            return _up(settings, secrets, getattr(args, "demo", False), dashboard.line)


class _Dashboard:
    """`up --dashboard`: the dashboard beside the agent, stopped with it; without the
    flag, only the banner's line saying how to start one."""

    def __init__(self, settings: Settings, config: str | Literal[False] | None) -> None:
        from dashboards.cli import describe, start_beside

        self.proc = None
        if config is False:
            self.line = f"inferwatch dashboard --data-dir {settings.store.dir}"
            return
        from agent.startup import PortBusy

        try:
            self.proc = start_beside(settings, config or None)
        except PortBusy as err:
            raise CannotStart(err) from None
        self.line = describe(settings).removeprefix("dashboard: ")

    def __enter__(self) -> _Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - it gets SIGKILL rather than outlive us
                self.proc.kill()


# Exit statuses of `up` (a container's exit code says which): 1 another agent holds the
# data folder or the port is taken, 2 a bad config or model folder, 3 the data folder
# cannot be created or written.
DATA_DIR_UNUSABLE = 3


class CannotStart(Exception):
    """An expected reason `up` cannot start: one line for the user, and the exit status."""

    def __init__(self, message: object, status: int = 1) -> None:
        super().__init__(str(message))
        self.status = status


def _preflight(settings: Settings):
    """Everything checked before anything starts: a configured model folder (status 2),
    then the data folder's lock and the listen port (status 1). Returns the held lock."""
    from agent.datadir import DataDirBusy, lock_data_dir
    from agent.routing.wiring import needs_bundled
    from agent.startup import PortBusy, check_port_free

    if needs_bundled(settings):
        from serving.bundled import check_model

        try:
            for cfg in _bundled_configs(settings).values():
                check_model(cfg)
        except FileNotFoundError as err:
            raise CannotStart(err, status=2) from None
    try:
        lock = lock_data_dir(settings.store.dir)
    except DataDirBusy as err:
        raise CannotStart(err) from None
    except OSError as err:
        # Its own status (3): in a container, the data volume is missing, read-only or
        # owned by another uid, which the operator fixes differently from a busy port.
        hint = f"mount a volume there that user {os.getuid()} can write"
        raise CannotStart(
            f"cannot use data folder {settings.store.dir}: {err.strerror or err}; {hint}",
            status=DATA_DIR_UNUSABLE,
        ) from None
    try:
        check_port_free(settings.listen.host, settings.listen.port)
        for serving in _bundled_configs(settings).values():  # fixed ports of bundled vLLMs
            if serving.port:
                check_port_free(serving.host, serving.port, "set serving.port (0: any free port)")
    except PortBusy as err:
        lock.release()
        raise CannotStart(err) from None
    return lock


def _up(settings: Settings, secrets: set[str], demo: bool, dashboard: str | None = None) -> int:
    from agent.routing.wiring import needs_bundled, primary_url

    if not needs_bundled(settings):
        _install_uvloop()
        return asyncio.run(_run_up(settings, primary_url(settings, None), dashboard=dashboard))
    from serving.bundled import prepare
    from serving.vllm_log import VllmLog

    configs = _bundled_configs(settings)
    try:
        launches = {name: prepare(cfg) for name, cfg in configs.items()}
    except FileNotFoundError as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        return 2
    first, *others = launches
    output = VllmLog(settings.store.dir / VLLM_LOG, secrets)
    more = [
        (n, configs[n], launches[n], VllmLog(settings.store.dir / f"vllm-{n}.log", secrets))
        for n in others
    ]
    _install_uvloop()
    launch = launches[first]
    return asyncio.run(_run_up(settings, launch.url, launch, demo, output, dashboard, more))


def _bundled_configs(settings: Settings) -> dict:
    """The vLLM settings of each bundled vLLM to start, by upstream name, the primary first
    (without `upstreams`: the one bundled vLLM, named `default`)."""
    from agent.routing.config import BUNDLED
    from agent.routing.wiring import DEFAULT

    if not settings.upstreams:
        return {DEFAULT: settings.serving} if settings.upstream.url is None else {}
    return {
        u.name: u.serving_config(settings.serving) for u in settings.upstreams if u.url == BUNDLED
    }


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _run_up(
    settings: Settings,
    upstream_url: str,
    launch=None,
    demo=False,
    output=None,
    dashboard=None,
    more: list | None = None,
) -> int:
    """Serve the agent until a signal; `launch` is the primary bundled vLLM's (None: an
    external upstream), `more` the other bundled vLLMs as (name, config, launch, log)."""
    from agent.app import Agent, bound_port, serve
    from agent.startup import describe_bind_error, request_log_line, upstream_banner

    bundled = {name: extra.url for name, _, extra, _ in more or []}
    agent = Agent(settings, upstream_url, bundled=bundled)
    if more:
        from serving.bundled import attach as attach_more

        for name, cfg, extra, log_file in more:
            target = agent.upstreams.by_name[name]
            attach_more(agent, cfg, extra, progress=False, output=log_file, upstream=target)
    agent_url: list[str] = []
    if launch is not None:  # the bundled vLLM: supervised, the agent in front of it
        from serving.bundled import announce_ready, attach

        announce = announce_ready(
            agent_url, launch, demo, request_log_line(settings), str(output.path), dashboard
        )
        attach(agent, settings.serving, launch, announce=announce, output=output)
    host = settings.listen.host
    try:
        runner = await serve(agent, host, settings.listen.port)
    except OSError as err:  # another process took the port since the check: rare race
        # serve() has run the startup hooks already; a vLLM they started gets SIGTERM from
        # the kernel as this process exits (its parent-death signal).
        print(
            f"inferwatch: {describe_bind_error(host, settings.listen.port, err)}", file=sys.stderr
        )
        return 1
    _freeze_startup_objects()
    try:
        watch = watch_from_env(dict(os.environ), asyncio.get_running_loop())  # debug aid, off
    except (OSError, ValueError) as err:  # a stall-watch file it cannot open, a bad threshold
        print(f"inferwatch: stall watch: {err}", file=sys.stderr)
        await runner.cleanup()
        return 1
    agent_url.append(f"http://{host}:{bound_port(runner)}")
    log.info("agent listening", extra={"listen": agent_url[0], "upstream": upstream_url})
    if launch is None:
        up = agent.upstream.state.up
        print(upstream_banner(agent_url[0], upstream_url, settings, up, dashboard), flush=True)
    await wait_for_signal()
    log.info("shutting down")
    await runner.cleanup()
    if watch is not None:
        watch.stop()
    return 0


def _freeze_startup_objects() -> None:
    """Move everything built so far (modules, config, compiled rules, the app) out of the
    garbage collector's reach: it lives as long as the process, and every full collection
    would walk it again (measured (bench/NOTES.md): a full collection took 37-46 ms
    on the event loop before, see BENCHMARKS.md)."""
    gc.collect()
    gc.freeze()


async def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# ---- config -----------------------------------------------------------------------------


def _add_config(sub) -> None:
    p = sub.add_parser("config", help="inspect the configuration")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="ACTION")
    show = csub.add_parser(
        "show",
        help="print the effective configuration (secrets masked)",
        description="Print the effective configuration as YAML, after defaults, the file, "
        "INFERWATCH_* variables and flags are applied. Secrets are masked.",
    )
    _add_config_arg(show)
    show.set_defaults(func=cmd_config_show)


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print the effective config with secrets masked."""
    settings = settings_from(args)
    sys.stdout.write(yaml.safe_dump(masked_dict(settings), sort_keys=False))
    return 0


# Each subcommand registers itself here; later features add one line each.
SUBCOMMANDS: list[Callable] = [
    _add_up,
    _add_config,
    *SERVING_SUBCOMMANDS,
    add_es_command,
    add_drift_command,
    add_alerts_command,
    add_experiments_command,
    add_dashboard_command,
    add_grafana_command,
    add_kibana_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="inferwatch",
        description="Observability and cost-monitoring sidecar for self-hosted LLM serving.",
    )
    parser.add_argument("--version", action="version", version=f"inferwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `inferwatch` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
