"""The agent's Prometheus instruments, built from the catalogue into a registry passed in."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from agent import __version__
from agent.catalogue import MetricSpec, load_catalogue
from agent.config import MetricsConfig
from agent.fastmetrics import AgentRegistry, FastCounter, FastGauge, FastHistogram
from agent.labels import LabelCap
from agent.record import OP_OTHER, STATUS_OK, RequestRecord


def new_registry(specs: dict[str, MetricSpec] | None = None) -> tuple[AgentRegistry, dict]:
    """A fresh registry holding every agent-owned instrument of the catalogue, plus the
    standard process / platform / GC collectors. Returns (registry, instruments by name)."""
    # `_created` series double the page and no dashboard uses them.
    disable_created_metrics()
    specs = specs if specs is not None else load_catalogue()
    registry = AgentRegistry()
    instruments = {
        name: build_instrument(spec, registry)
        for name, spec in specs.items()
        if spec.source == "agent"
    }
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    instruments["inferwatch_build_info"].labels(version=__version__).set(1)
    return registry, instruments


def build_instrument(spec: MetricSpec, registry: CollectorRegistry):
    """Create the instrument for an agent-owned spec, registered in `registry`: a fast family
    when `registry` is an `AgentRegistry` (see agent/fastmetrics.py), else prometheus_client's."""
    if isinstance(registry, AgentRegistry):
        return registry.add_fast(_fast_family(spec))
    if spec.type == "counter":
        # prometheus_client appends `_total` itself.
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.type in ("gauge", "info"):
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, buckets=spec.buckets, registry=registry)


def _fast_family(spec: MetricSpec):
    if spec.type == "counter":
        return FastCounter(spec.name, spec.help, spec.labels)
    if spec.type in ("gauge", "info"):
        return FastGauge(spec.name, spec.help, spec.labels)
    return FastHistogram(spec.name, spec.help, spec.labels, spec.buckets)


class RequestMetrics:
    """Turns finished `RequestRecord`s into observations. Pure memory; safe on the request path."""

    def __init__(
        self,
        instruments: dict,
        config: MetricsConfig,
        known_tenants: Iterable[str] = (),
        models: LabelCap | None = None,
    ) -> None:
        self._i = instruments
        self._tenant = LabelCap(config.max_tenants, known_tenants)
        self._model = models or LabelCap(config.max_models, known=("unknown",))
        self.in_flight = instruments["inferwatch_requests_in_flight"]

    def observe(self, r: RequestRecord) -> None:
        """Record one finished request in every instrument it concerns."""
        i = self._i
        # A model name a client's error ended (vLLM's 404 for a model it does not serve, a
        # 400, the agent's 401) gets no label slot of its own: it is any string a client
        # cares to send, and would push the real models into `other`.
        model = self._model(r.model or "unknown", admit=admits_model(r.http_status))
        tenant = self._tenant(r.tenant)
        op = r.operation
        # Latency and size distributions are per model (and operation, status); what a
        # tenant is billed for or suffers from is in counters and two small per-tenant
        # histograms (docs/design/series-budget.md: 50 tenants would multiply every bucket).
        i["gen_ai_server_request_duration_seconds"].labels(model, op, r.status).observe(
            r.duration_s
        )
        i["inferwatch_requests_total"].labels(model, tenant, r.status).inc()
        i["inferwatch_tenant_request_duration_seconds"].labels(tenant).observe(r.duration_s)
        i["inferwatch_agent_overhead_seconds"].labels(op).observe(r.overhead_ns / 1e9)
        if r.status != STATUS_OK:
            i["inferwatch_upstream_errors_total"].labels(model, op, r.error_type or "unknown").inc()
        if op == OP_OTHER:
            return
        self._observe_latency(r, model, op, tenant)
        self._observe_tokens(r, model, op, tenant)

    def _observe_latency(self, r: RequestRecord, model: str, op: str, tenant: str) -> None:
        i = self._i
        ttft = r.ttft_s
        if ttft is not None:
            i["gen_ai_server_time_to_first_token_seconds"].labels(model, op).observe(ttft)
            i["inferwatch_tenant_time_to_first_token_seconds"].labels(tenant).observe(ttft)
        # Only where the agent saw tokens arrive one after another: a non-streamed response
        # comes whole, its "first token" at its end, so its figure would be ~0 s (issue 15).
        tpot = r.tpot_s if r.stream else None
        if tpot is not None:
            i["gen_ai_server_time_per_output_token_seconds"].labels(model, op).observe(tpot)

    def _observe_tokens(self, r: RequestRecord, model: str, op: str, tenant: str) -> None:
        usage, total = self._i["gen_ai_client_token_usage"], self._i["inferwatch_tokens_total"]
        if r.prompt_tokens is not None:
            usage.labels(model, op, "input").observe(r.prompt_tokens)
            total.labels(model, tenant, "input").inc(r.prompt_tokens)
        if r.completion_tokens is not None:
            usage.labels(model, op, "output").observe(r.completion_tokens)
            total.labels(model, tenant, "output").inc(r.completion_tokens)


def admits_model(http_status: int) -> bool:
    """False for the client errors that say nothing of whether the model exists."""
    return not (400 <= http_status < 500) or http_status in (408, 429, 499)
