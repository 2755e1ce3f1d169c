"""The admin listener: /metrics, /health and /health/live on a port of their own.

The API port is the clients'; what the operator reads (tenant names, budgets, the upstream
URL) moves here when `admin.listen` is set, optionally behind a bearer token, as the
Prometheus exporters' web config offers. /health/live stays open: a liveness probe
carries no credentials and the answer reveals nothing but that the loop runs.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from agent.errors import error_response
from agent.server import start_listener
from agent.server_config import AdminConfig, split_host_port

log = logging.getLogger("inferwatch.admin")

OPEN_PATHS = frozenset({"/health/live"})
ADMIN_RUNNER = web.AppKey("admin_runner", web.AppRunner)


def load_token(config: AdminConfig) -> bytes | None:
    """The configured bearer token, or None; a token file is read here, once."""
    if config.bearer_token is not None:
        token = config.bearer_token.get_secret_value()
    elif config.bearer_token_file is not None:
        token = Path(config.bearer_token_file).read_text().strip()
        if not token:
            raise ValueError(f"admin.bearer_token_file {config.bearer_token_file} is empty")
    else:
        return None
    return token.encode()


def bearer_auth(token: bytes, refused) -> Callable:
    """Middleware: every path but OPEN_PATHS needs `Authorization: Bearer <token>`."""
    expected = b"Bearer " + token

    @web.middleware
    async def check(request: web.Request, handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            # surrogateescape: any header bytes compare (and fail) without raising.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):  # constant time
                refused.inc()
                return error_response(
                    401,
                    "admin endpoints need Authorization: Bearer <admin.bearer_token>",
                    "unauthorized",
                    headers={"WWW-Authenticate": 'Bearer realm="inferwatch admin"'},
                )
        return await handler(request)

    return check


def admin_app(agent, token: bytes | None) -> web.Application:
    """The admin application, serving the agent's own /metrics and /health handlers."""
    middlewares = []
    if token is not None:
        refused = agent.instruments["inferwatch_requests_rejected_total"]
        middlewares.append(bearer_auth(token, refused.labels("admin", "unauthorized")))
    app = web.Application(middlewares=middlewares)
    from agent.app import add_routes  # the app module imports this one

    add_routes(app, agent.ops_routes())
    return app


def attach_admin(api: web.Application, agent) -> None:
    """Start the admin listener with the API app and stop it with the app."""
    config: AdminConfig = agent.settings.admin
    if config.listen is None:
        raise ValueError("attach_admin needs admin.listen (HOST:PORT)")
    host, port = split_host_port(config.listen)
    token = load_token(config)  # at start: a missing file is an error before serving

    async def start(app: web.Application) -> None:
        limits = agent.settings.limits
        runner = await start_listener(
            admin_app(agent, token), host, port, limits, agent.instruments, "admin"
        )
        app[ADMIN_RUNNER] = runner
        log.info("admin listening", extra={"listen": f"http://{host}:{admin_port(app)}"})

    async def stop(app: web.Application) -> None:
        if ADMIN_RUNNER in app:
            await app[ADMIN_RUNNER].cleanup()

    api.on_startup.append(start)
    api.on_cleanup.append(stop)


def admin_port(api: web.Application) -> int:
    """The port the admin listener of a started API app listens on."""
    for site in api[ADMIN_RUNNER].sites:
        if isinstance(site, web.TCPSite):
            return site.port
    raise RuntimeError("the admin listener is not listening")
