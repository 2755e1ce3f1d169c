"""`inferwatch dashboard`: start the Streamlit dashboard against a store or Elasticsearch.

The command checks what it can first (the config, the port), then hands the process to
Streamlit (`streamlit run dashboards/app.py -- <flags>`), headless, on 127.0.0.1 unless
told otherwise, with usage statistics, file watching and error details off.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

from agent.config import ConfigError, Settings, load_settings
from agent.startup import PortBusy, check_port_free
from common.childproc import die_with_parent, lower_to_idle
from common.masking import mask_url
from dashboards.context import overrides

APP = Path(__file__).parent / "app.py"
LOG_NAME = "dashboard.log"  # `up --dashboard`: the dashboard's output, in the data folder


def add_dashboard_command(sub) -> None:
    """Register `inferwatch dashboard`."""
    p = sub.add_parser(
        "dashboard",
        help="the cost and drift dashboard (Streamlit) in a browser",
        description="Serve the Streamlit dashboard: cost, requests, drift, alerts, GPUs and "
        "safety, read from the embedded store of an agent (running or stopped) or from "
        "Elasticsearch for a fleet of agents. It only reads. Open the printed URL.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the agent's data folder to read (config: store.dir; default ./inferwatch-data)",
    )
    src.add_argument(
        "--elasticsearch",
        metavar="URL",
        help="read every agent's request logs from this Elasticsearch instead "
        "(config: elasticsearch.url, credentials there; dashboard.source: elasticsearch)",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where the dashboard listens (config: dashboard.host / dashboard.port; default "
        "127.0.0.1:8501). It has no login: keep it on loopback or behind an auth proxy",
    )
    p.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus that scrapes the agents, for the GPUs and vLLM page "
        "(config: dashboard.prometheus_url; default: the store's own snapshots)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="the agent's YAML config (budgets, prices, Elasticsearch credentials). "
        "Precedence: defaults < FILE < INFERWATCH_* environment < flags.",
    )
    p.set_defaults(func=cmd_dashboard)


def _listen(value: str) -> dict:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen: expected HOST:PORT, got {value!r}")
    return {"host": host or "127.0.0.1", "port": int(port)}


def app_flags(args: argparse.Namespace) -> list[str]:
    """The flags the app script gets (it loads the same settings from them)."""
    flags: list[str] = []
    if args.config:
        flags += ["--config", str(Path(args.config).resolve())]
    if args.data_dir:
        flags += ["--data-dir", str(Path(args.data_dir).resolve())]
    if args.elasticsearch:
        flags += ["--elasticsearch", args.elasticsearch]
    if args.prometheus:
        flags += ["--prometheus", args.prometheus]
    return flags


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings the dashboard will run with (the app loads the same, from the same
    flags, see `dashboards.context.overrides`; only where it listens is the command's)."""
    over = overrides(args)
    if args.listen:
        over.setdefault("dashboard", {}).update(_listen(args.listen))
    return load_settings(args.config, over)


def streamlit_command(settings: Settings, flags: list[str]) -> list[str]:
    """The Streamlit command line serving the app with `settings.dashboard`."""
    d = settings.dashboard
    options = {
        "server.headless": "true",
        "server.address": d.host,
        "server.port": str(d.port),
        "server.fileWatcherType": "none",
        "server.runOnSave": "false",
        "browser.gatherUsageStats": "false",
        "global.developmentMode": "false",
        "client.toolbarMode": "viewer",
        # A viewer sees an error's type, not a traceback with the server's paths.
        "client.showErrorDetails": "type",
    }
    opts = [f"--{k}={v}" for k, v in options.items()]
    return [sys.executable, "-m", "streamlit", "run", str(APP), *opts, "--", *flags]


def describe(settings: Settings) -> str:
    """One line: where the dashboard is and what it reads."""
    d = settings.dashboard
    if d.source == "elasticsearch":
        what = f"Elasticsearch {mask_url(settings.elasticsearch.url or '')}"
    else:
        what = f"the store in {settings.store.dir}"
    return f"dashboard: http://{_url_host(d.host)}:{d.port} (reads {what})"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _exposed(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Check, print where, and become the Streamlit server."""
    try:
        settings = settings_of(args)
        d = settings.dashboard
        check_port_free(d.host, d.port, "choose another with --listen HOST:PORT")
    except (ConfigError, PortBusy) as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    if _exposed(d.host):
        print(
            f"inferwatch: warning: the dashboard listens on {d.host}, beyond this machine, "
            "and has no login: anyone who reaches it sees costs and request metadata",
            file=sys.stderr,
        )
    print(describe(settings), flush=True)
    if d.idle_priority:
        lower_to_idle()  # Streamlit, exec'd below, keeps the class (and its threads too)
    command = streamlit_command(settings, app_flags(args))
    os.execv(command[0], command)
    return 0  # pragma: no cover - execv does not return


def start_beside(settings: Settings, config: str | None) -> subprocess.Popen:
    """`inferwatch up --dashboard`: the dashboard as a child of the agent, reading its store;
    it gets SIGTERM if the agent dies. Raises `PortBusy` when its port is taken."""
    d = settings.dashboard
    check_port_free(d.host, d.port, "set dashboard.port")
    flags = ["--data-dir", str(settings.store.dir.resolve())]
    if config:
        flags = ["--config", str(Path(config).resolve()), *flags]
    if d.prometheus_url:
        flags += ["--prometheus", str(d.prometheus_url)]
    settings.store.dir.mkdir(parents=True, exist_ok=True)
    with open(settings.store.dir / LOG_NAME, "ab") as log:
        return subprocess.Popen(
            streamlit_command(settings, flags),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup(d.idle_priority),  # noqa: PLW1509 - only the child runs it
        )


def _child_setup(idle: bool):
    """What the dashboard's process does before Streamlit starts: die with the agent, and
    (`dashboard.idle_priority`) leave the CPU to it."""

    def setup() -> None:
        die_with_parent()
        if idle:
            lower_to_idle()

    return setup
