"""Spans exported over real OTLP/HTTP (protobuf) to a receiver the test runs, decoded with
the OpenTelemetry protocol definitions."""

import asyncio

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agent.tracing import SpanSink
from tests.conftest import start_app
from tests.http import post

pytestmark = pytest.mark.integration


@pytest.fixture
async def otlp_receiver():
    spans = []

    async def traces(request: web.Request) -> web.Response:
        req = ExportTraceServiceRequest()
        req.ParseFromString(await request.read())
        for rs in req.resource_spans:
            res = {a.key: a.value.string_value for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                spans.extend((res, s) for s in ss.spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner, url = await start_app(app)
    yield url + "/v1/traces", spans
    await runner.cleanup()


def attrs(span) -> dict:
    out = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value or v.int_value or v.double_value or v.bool_value
    return out


async def test_one_span_per_request_with_genai_attributes(
    fake_upstream, start_agent, otlp_receiver
):
    endpoint, spans = otlp_receiver
    ra = await start_agent(
        fake_upstream.url, otel={"endpoint": endpoint, "service_name": "iw-test"}
    )
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "a b"}]}
    await post(ra.url + "/v1/chat/completions", body, {"traceparent": tp, "x-fake-tokens": "5"})
    await post(ra.url + "/v1/chat/completions", body, {"x-fake-status": "500"})
    records = await ra.records(2)
    [sink] = [s for s in ra.agent.pipeline.sinks if isinstance(s, SpanSink)]
    await sink.flush()
    async with asyncio.timeout(10):
        while len(spans) < 2:
            await asyncio.sleep(0.05)
    (res, ok), (_, failed) = sorted(spans, key=lambda rs: rs[1].start_time_unix_nano)
    assert res["service.name"] == "iw-test"
    assert ok.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ok.parent_span_id.hex() == "00f067aa0ba902b7"
    assert ok.span_id.hex() == records[0].span_id
    a = attrs(ok)
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "fake-model"
    assert a["gen_ai.usage.output_tokens"] == 5 and a["gen_ai.provider.name"] == "vllm"
    assert (
        ok.end_time_unix_nano - ok.start_time_unix_nano == records[0].end_ns - records[0].start_ns
    )
    assert failed.trace_id.hex() == records[1].trace_id
    assert attrs(failed)["error.type"] == "500" and failed.status.code == 2  # ERROR
