"""What `inferwatch up` checks before it starts anything, and what it says once ready."""

from __future__ import annotations

import errno
import socket

from agent.config import Settings
from common.banner import format_banner
from common.masking import mask_url


class PortBusy(RuntimeError):
    """The address the agent should listen on cannot be bound."""


_LISTEN_HINT = "pass --listen HOST:PORT"


def check_port_free(host: str, port: int, hint: str = _LISTEN_HINT) -> None:
    """Bind `host:port` once, as the agent's server will (SO_REUSEADDR, every address the
    host name resolves to), and let it go; raises `PortBusy` with one clear line.

    Port 0 (any free port) always passes. A race with another process between this check
    and the real bind is still possible; the real bind reports it the same way."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise PortBusy(f"cannot listen on {host}:{port}: {err.strerror}") from None
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(addr)
            except OSError as err:
                raise PortBusy(describe_bind_error(host, port, err, hint)) from None


def describe_bind_error(host: str, port: int, err: OSError, hint: str = _LISTEN_HINT) -> str:
    """One line for a failed bind of `host:port`; `hint` says how to choose another."""
    if err.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {host}:{port}: the port is already in use (another "
            f"inferwatch or server runs there); stop it or {hint}"
        )
    return f"cannot listen on {host}:{port}: {err.strerror or err}"


def request_log_line(settings: Settings) -> str:
    """Where this agent's request log goes, for the banner."""
    store = settings.store
    where = str(store.dir / store.filename) if store.enabled else "off (store.enabled: false)"
    if settings.elasticsearch.url:
        where += f", shipped to {mask_url(settings.elasticsearch.url)}"
    return where


def upstream_banner(
    agent_url: str,
    upstream_url: str,
    settings: Settings,
    upstream_up: bool | None = None,
    dashboard: str | None = None,
) -> str:
    """The banner of `inferwatch up --upstream URL` once the agent listens."""
    state = {True: "up", False: "not answering yet", None: "not checked yet"}[upstream_up]
    rows = [
        ("OpenAI API", f"{agent_url}/v1"),
        ("metrics", f"{agent_url}/metrics"),
        ("health", f"{agent_url}/health"),
        ("upstream", f"{mask_url(upstream_url)} ({state})"),
        ("request log", request_log_line(settings)),
    ]
    for u in settings.upstreams:  # several upstreams: each with its share
        rows.append((f"  {u.name}", f"{mask_url(u.url)} ({u.weight:g}%)"))
    for e in settings.experiments:
        rows.append(("experiment", f"{e.name}: {e.kind}, {e.control} vs {e.variant}"))
    if settings.experiments:
        rows.append(("experiments", f"{agent_url}/inferwatch/experiments"))
    if dashboard:
        rows.append(("dashboard", dashboard))
    tips = [f"demo traffic:  inferwatch demo-traffic --url {agent_url}"]
    return format_banner("inferwatch is ready", rows, tips)
