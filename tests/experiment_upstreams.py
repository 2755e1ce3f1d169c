"""Stand-ins for experiments between two upstreams (not vLLM): a second upstream whose
answers say VARIANT (or a scripted text, status or delay), the config of an experiment
between it and a first upstream, and a reader of one /metrics sample."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

CHAT = "/v1/chat/completions"


class Variant:
    """A second upstream whose answers say VARIANT, so a client would notice one."""

    def __init__(self, delay_s: float = 0.0, status: int = 200, text: str = "VARIANT") -> None:
        self.delay_s, self.status, self.text = delay_s, status, text
        self.seen: list[dict] = []  # the headers of each generate request
        self.bodies: list[dict] = []
        self.cancelled = 0
        self.app = web.Application()
        self.app.router.add_post(CHAT, self.generate)
        self.app.router.add_get("/health", self.health)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def generate(self, request: web.Request) -> web.StreamResponse:
        self.seen.append({k.lower(): v for k, v in request.headers.items()})
        body = await request.json()
        self.bodies.append(body)
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.status != 200:
            err = {"error": {"message": "scripted failure", "type": "fake", "code": self.status}}
            return web.json_response(err, status=self.status)
        usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
        if not body.get("stream"):
            msg = {"role": "assistant", "content": f"{self.text} {self.text}"}
            return web.json_response(
                {
                    "model": "variant",
                    "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}],
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in (
            {
                "model": "variant",
                "choices": [{"index": 0, "delta": {"content": self.text}, "finish_reason": "stop"}],
            },
            {"model": "variant", "choices": [], "usage": usage},
        ):
            await resp.write(b"data: " + orjson.dumps(event) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp


def experiment_config(
    control_url: str, variant_url: str, experiment: dict, weights=(100, 0)
) -> dict:
    """`upstreams` (control, candidate) and one experiment `exp1` between them."""
    return {
        "upstreams": [
            {"name": "control", "url": control_url, "weight": weights[0]},
            {"name": "candidate", "url": variant_url, "weight": weights[1]},
        ],
        "experiments": [
            {"name": "exp1", "control": "control", "variant": "candidate", **experiment}
        ],
    }


def metric_sample(page: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a /metrics page (None when absent)."""
    for fam in text_string_to_metric_families(page):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def primary_record(request_id: str = "r1"):
    """The builder of a client's chat request, as the proxy has it when a copy launches."""
    from agent.record import RecordBuilder

    return RecordBuilder(
        start_ns=1,
        wall_time=1.0,
        request_id=request_id,
        trace_id="0" * 32,
        span_id="1" * 16,
        tenant="t",
        model="m",
        operation="chat",
        path="/v1/chat/completions",
        stream=False,
    )
