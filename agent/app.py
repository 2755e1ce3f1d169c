"""Wiring: build every part of the agent from `Settings` and serve it with aiohttp."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from yarl import URL

from agent import __version__
from agent.config import Settings
from agent.cost.wiring import build_cost_stage
from agent.errors import error_response
from agent.labels import LabelCap
from agent.metrics import RequestMetrics, new_registry
from agent.metrics_stage import MetricsStage
from agent.pipeline import RecordPipeline, Sink
from agent.proxy import Proxy
from agent.recordpath import RecordPath, Stage
from agent.routing.canary import Canary
from agent.routing.config import CANARY, SHADOW
from agent.routing.http import ExperimentsAPI
from agent.routing.loopbusy import LoopBusy
from agent.routing.metrics import ExperimentStage
from agent.routing.shadow import Shadows
from agent.routing.wiring import build_upstreams
from agent.safety.wiring import build_safety_stage
from agent.server import start_listener
from agent.server_admin import attach_admin
from agent.server_inflight import InflightBytes
from agent.store.early import StoreEarly
from agent.store.experiments import ExperimentLog
from agent.store.samples import attach_samples
from agent.store.sqlite_sink import SQLiteSink
from agent.store.wiring import build_store
from agent.store.writer import StoreWriter
from agent.tenancy import known_tenants
from alerts.service import attach_alerts
from collectors.wiring import attach_collectors, vllm_finder

log = logging.getLogger("inferwatch.app")

_HEALTH_CACHE_S = 1.0
_PROBE_EVERY_S = 5.0


class Agent:
    """All the parts of one running agent, built from settings and passed to each other."""

    def __init__(
        self,
        settings: Settings,
        upstream_url: str,
        sinks: list[Sink] | None = None,
        extra_collectors: list | None = None,
        meter=None,
        stages: list[Stage] | None = None,
        bundled: dict[str, str] | None = None,
    ):
        """`sinks`: more sinks after the built-in ones (tests: a MemorySink); `stages`:
        more stages, after safety and before cost (they see each record as it ends);
        `extra_collectors`: more collectors; `meter`: what feeds the cost stage metered
        intervals (`subscribe(callback)`), the collectors by default; `bundled`: the URLs
        of the bundled upstreams but the primary (by name), once their vLLMs are placed."""
        self.settings = settings
        self.started = time.time()
        self.registry, self.instruments = new_registry()
        # Model labels, shared by the request and cost metrics: a model gets a slot once
        # the upstream served it (agent.metrics), so invented names cannot take them all.
        self.model_labels = LabelCap(settings.metrics.max_models, known=("unknown",))
        self.metrics = RequestMetrics(
            self.instruments, settings.metrics, known_tenants(settings.tenants), self.model_labels
        )
        # Every upstream by name, and the router that picks one per request (agent/routing);
        # `upstream` is the primary: the one the collectors meter and serving supervises.
        self.upstreams = build_upstreams(settings, upstream_url, self.instruments, bundled)
        self.upstream = self.upstreams.primary
        self._tasks: list[asyncio.Task] = []
        self.on_startup: list = []  # extra async callables(agent), e.g. collectors
        self.on_cleanup: list = []
        # vLLM's process tree, metered by the collectors (a supervisor hands it each pid).
        self.vllm_process = vllm_finder(settings.collectors, self.upstream.url)
        # Every registered collector settings leave on (vLLM's own /metrics among them).
        self.collectors = attach_collectors(
            self, settings, extra_collectors or (), vllm=self.vllm_process
        )
        self.cost = build_cost_stage(settings, self.instruments, self.model_labels)
        meter = meter if meter is not None else self.collectors
        if self.cost is not None and meter is not None:
            meter.subscribe(self.cost.on_intervals)  # metered intervals, each tick
        self.store = build_store(settings, self.instruments, early=self.cost is not None)
        self.shipper = None
        if self.store is not None and settings.elasticsearch.url:
            from agent.shipping.wiring import build_shipper  # loads the Elasticsearch client

            self.shipper = build_shipper(settings, self.store, self.instruments)
        self.safety = build_safety_stage(settings.safety)
        self.path = self._record_path(stages or [], sinks or [])
        self.pipeline = self.path.pipeline
        exp = self.upstreams.experiment
        self.shadows = (
            Shadows(exp, settings, self.path, self.safety, self.instruments, LoopBusy())
            if exp is not None and exp.kind == SHADOW
            else None
        )
        self.canary = self._canary()
        self.experiments = ExperimentsAPI(
            exp,
            self.upstreams.router,
            self.canary,
            settings.store.path if self.store is not None else None,
        )
        self.proxy = Proxy(
            settings, self.upstreams.router, self.metrics, self.path, self.safety, self.shadows
        )
        self.samples = attach_samples(self, settings)  # metric snapshots into the store
        # Detectors and the alert engine read the store (never the request path): last.
        self.alerts = attach_alerts(self, settings)

    def _canary(self) -> Canary | None:
        exp = self.upstreams.experiment
        if exp is None or exp.kind != CANARY or self.store is None:
            return None
        from agent.routing import analysis

        store = self.settings.store.path
        return Canary(
            exp,
            self.upstreams.router,
            ExperimentLog(store),
            lambda since: analysis.gate_look(store, exp, since),
            self.instruments,
        )

    def _record_path(self, extra_stages: list[Stage], extra_sinks: list[Sink]) -> RecordPath:
        """The record path, in the order a record meets it (see agent/recordpath.py). A
        new stage or sink is its own file plus one line here."""
        s, store, hits = self.settings, self.store, "inferwatch_safety_filter_hits_total"
        stages: list[Stage | None] = [
            self.safety,  # verdicts merged, text redacted before anything keeps the record
            # The row exists while the cost stage holds the record (a crash loses nothing).
            StoreEarly(store) if store is not None and self.cost is not None else None,
            *extra_stages,
            # /metrics: the request, its errors and safety hits, as soon as they are known.
            MetricsStage(self.metrics, self.instruments[hits]),
            self.cost,  # held until every device has metered the request's time
            # Experiment families per variant, with the cost the stage above released.
            ExperimentStage(self.instruments) if self.upstreams.experiment else None,
        ]
        sinks: list[Sink | None] = [
            SQLiteSink(store, sync=s.store.durability == "sync") if store is not None else None,
            _span_sink(s) if s.otel.endpoint else None,
            *extra_sinks,
        ]
        p = s.pipeline
        pipeline = RecordPipeline(
            [k for k in sinks if k is not None],
            p.queue_size,
            p.batch_size,
            self.instruments,
            p.max_bytes,
        )
        return RecordPath([st for st in stages if st is not None], pipeline)

    def build_app(self) -> web.Application:
        """The aiohttp application: the proxied API plus /health and /metrics."""
        app = web.Application(client_max_size=self.settings.limits.max_body_bytes + 1)
        self._add_ops_routes(app)  # /metrics, /health: here, or 404 when the admin port has them
        # Everything else goes to the proxy, which routes on the canonical path itself.
        app.router.add_route("*", "/{tail:.*}", self.proxy.handle)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    def _add_ops_routes(self, app: web.Application) -> None:
        ops = self.ops_routes()
        if self.settings.admin.listen is None:  # compatible default: on the API port
            add_routes(app, ops)
            return
        # The admin listener serves them; here they answer 404 for every method, and are
        # never forwarded to the upstream (vLLM has a /metrics and /health of its own).
        for path in {path for _, path, _ in ops}:
            app.router.add_route("*", path, _served_on_admin_port)

    def ops_routes(self) -> list[tuple[str, str, Callable]]:
        """The agent's own routes as (method, path, handler), on the API port or the admin
        port with `admin.listen`: /metrics, /health, /health/live, /inferwatch/experiments..."""
        ops = {"/metrics": self.handle_metrics, "/health": self.handle_health}
        ops["/health/live"] = self.handle_live
        return [("GET", p, h) for p, h in ops.items()] + self.experiments.routes()

    async def _startup(self, app: web.Application) -> None:
        await self.start()

    async def _cleanup(self, app: web.Application) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start everything but the HTTP listener: the store, the shipper, the record
        path, the upstream probe, then the `on_startup` hooks (collectors, alerts...)."""
        if self.store is not None:
            await self._open_store(self.store)
        if self.shipper is not None:
            await self.shipper.start()
        await self.path.start()
        self._tasks.append(asyncio.create_task(self._probe_loop(), name="upstream-probe"))
        if self.canary is not None:
            await self.canary.start()
        if self.shadows is not None:
            await self.shadows.start()
        for hook in self.on_startup:
            await hook(self)

    async def _open_store(self, store: StoreWriter) -> None:
        try:
            await asyncio.to_thread(store.start)  # opens/migrates the database off the loop
        except Exception as err:
            path = str(self.settings.store.path)
            log.error("cannot open the request store", extra={"path": path, "error": str(err)})
            raise

    async def stop(self) -> None:
        """Stop what `start` started: hooks first, then the shipper, then the record path
        (stages emit what they hold; the sinks, the store among them, close)."""
        for hook in self.on_cleanup:
            await hook(self)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.canary is not None:
            await self.canary.stop()
        if self.shadows is not None:
            await self.shadows.stop()  # their records reach the path before it stops
        if self.shipper is not None:
            await self.shipper.stop()  # the last records are shipped at the next start
        await self.path.stop()  # stages emit what they hold; the sinks (the store) close
        for up in self.upstreams.by_name.values():
            await up.close()

    async def _probe_loop(self) -> None:
        while True:
            for up in self.upstreams.by_name.values():
                await up.probe()
            await asyncio.sleep(_PROBE_EVERY_S)

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition of the agent's registry."""
        return web.Response(
            body=self.registry.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def handle_live(self, request: web.Request) -> web.Response:
        """Liveness: the agent's event loop answers. Never depends on the upstream."""
        return web.json_response({"status": "up"})

    async def handle_health(self, request: web.Request) -> web.Response:
        """Agent and upstream state, separately; 503 when the upstream cannot serve."""
        state = self.upstream.state
        if state.checked_at is None or time.time() - state.checked_at > _HEALTH_CACHE_S:
            await self.upstream.probe()
        upstream = "starting" if state.starting else ("up" if state.up else "down")
        body: dict[str, object] = {
            "status": "ok" if upstream == "up" else "degraded",
            "agent": {
                "status": "up",
                "version": __version__,
                "uptime_s": round(time.time() - self.started, 1),
            },
            "upstream": {
                "status": upstream,
                "url": public_url(self.upstream.url),
                "error": state.last_error,
                "checked_at": state.checked_at,
            },
        }
        if len(self.upstreams.by_name) > 1:  # each named upstream as last seen
            body["upstreams"] = {
                name: {
                    "status": "up" if u.state.up else ("unknown" if u.state.up is None else "down"),
                    "url": public_url(u.url),
                    "error": u.state.last_error,
                }
                for name, u in self.upstreams.by_name.items()
            }
        return web.Response(
            status=200 if upstream == "up" else 503,
            body=orjson.dumps(body),
            content_type="application/json",
        )


async def serve(agent: Agent, host: str, port: int) -> web.AppRunner:
    """Start listening, and the admin listener when `admin.listen` is set; returns the
    API runner (`runner.cleanup()` stops both)."""
    settings = agent.settings
    app = agent.build_app()
    limits = settings.limits
    inflight = InflightBytes(
        limits.max_inflight_bytes, limits.max_body_bytes, agent.instruments, "api"
    )
    app.middlewares.append(inflight.middleware)
    if settings.admin.listen is not None:
        attach_admin(app, agent)
    return await start_listener(app, host, port, limits, agent.instruments, "api")


def _span_sink(settings: Settings) -> Sink:
    from agent.tracing import SpanSink  # the OTel SDK is only loaded when used

    return SpanSink(settings.otel)


async def _served_on_admin_port(request: web.Request) -> web.Response:
    return error_response(404, "not found on this port (see admin.listen)", "not_found")


def add_routes(app: web.Application, routes: list[tuple[str, str, Callable]]) -> None:
    """Add (method, path, handler) routes to `app` (GET also answers HEAD)."""
    for method, path, handler in routes:
        if method == "GET":
            app.router.add_get(path, handler)
        else:
            app.router.add_route(method, path, handler)


def public_url(url: str) -> str:
    """`url` without its user and password, fit to show on /health."""
    return str(URL(url).with_user(None))


def bound_port(runner: web.AppRunner) -> int:
    """The port a started runner actually listens on (useful with port 0)."""
    for address in runner.addresses:  # (host, port, ...) of every listening socket
        return int(address[1])
    raise RuntimeError("runner is not listening")
