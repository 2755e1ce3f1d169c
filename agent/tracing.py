"""One OpenTelemetry span per request, made from its record off the request path.

The span is built after the fact with the record's own timestamps and ids, so the trace
id in the request log, the `traceparent` sent to vLLM and the exported span all agree,
and the request path pays nothing for tracing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from agent import __version__
from agent.config import OtelConfig
from agent.pipeline import ExportResult
from agent.record import STATUS_OK, RequestRecord
from agent.safety.otel import guardrail_attributes, guardrail_events


class _RecordIds(IdGenerator):
    """Hands the SDK the ids the proxy already chose for the record being exported."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


def span_attributes(r: RequestRecord) -> dict:
    """GenAI semantic-convention attributes of a record's span."""
    attrs = {
        "gen_ai.operation.name": r.operation,
        "gen_ai.provider.name": "vllm",
        "gen_ai.request.model": r.model,
        "http.response.status_code": r.http_status,
        "url.path": r.path,
        "user.id": r.tenant,
        "inferwatch.request_id": r.request_id,
        "inferwatch.stream": r.stream,
        "inferwatch.overhead_ms": r.overhead_ns / 1e6,
    }
    optional = {
        "gen_ai.response.model": r.response_model,
        "gen_ai.usage.input_tokens": r.prompt_tokens,
        "gen_ai.usage.output_tokens": r.completion_tokens,
        "gen_ai.response.finish_reasons": [r.finish_reason] if r.finish_reason else None,
        "gen_ai.server.time_to_first_token": r.ttft_s,
        "error.type": r.error_type,
        "inferwatch.cost.amount": r.cost_amount,
        "inferwatch.cost.currency": r.cost_currency,
        "inferwatch.experiment": r.experiment,
        "inferwatch.variant": r.variant,
        "inferwatch.shadow_of": r.shadow_of,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    attrs.update(guardrail_attributes(r))
    return attrs


class SpanSink:
    """A `Sink` that turns records into spans and exports them over OTLP/HTTP."""

    name = "otel"

    def __init__(self, config: OtelConfig, exporter: SpanExporter | None = None) -> None:
        self._ids = _RecordIds()
        resource = Resource.create(
            {"service.name": config.service_name, "service.version": __version__}
        )
        self._provider = TracerProvider(resource=resource, id_generator=self._ids)
        if exporter is None:
            headers = {k: v.get_secret_value() for k, v in config.headers.items()}
            exporter = OTLPSpanExporter(endpoint=config.endpoint, headers=headers or None)
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("inferwatch", __version__)

    async def export(self, batch: Sequence[RequestRecord]) -> ExportResult:
        for r in batch:
            self._emit(r)
        return ExportResult(accepted=len(batch))

    def _parent(self, r: RequestRecord) -> Context | None:
        if not r.parent_span_id:
            return None
        ctx = SpanContext(
            int(r.trace_id, 16),
            int(r.parent_span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        return set_span_in_context(NonRecordingSpan(ctx))

    def _emit(self, r: RequestRecord) -> None:
        self._ids.trace_id, self._ids.span_id = int(r.trace_id, 16), int(r.span_id, 16)
        start = int(r.wall_time * 1e9)
        span = self._tracer.start_span(
            f"{r.operation} {r.model}".strip(),
            context=self._parent(r),
            kind=SpanKind.SERVER,
            attributes=span_attributes(r),
            start_time=start,
        )
        if r.status != STATUS_OK:
            span.set_status(Status(StatusCode.ERROR, r.error_message or r.error_type))
        end = start + (r.end_ns - r.start_ns)
        for name, attributes in guardrail_events(r):
            span.add_event(name, attributes, timestamp=end)
        span.end(end_time=end)

    async def flush(self) -> None:
        # Both block on network I/O: keep them off the event loop.
        await asyncio.to_thread(self._provider.force_flush)

    async def close(self) -> None:
        await asyncio.to_thread(self._provider.shutdown)
