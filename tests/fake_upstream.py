"""A small OpenAI-compatible upstream written for the tests (not vLLM).

It answers chat, completions, embeddings and model listing, streaming and not, with
`usage`, the way vLLM does (a role chunk first, then content chunks, then a usage-only
chunk when `stream_options.include_usage` is set). Request headers script its faults:

- `x-fake-status: 500`        answer with that HTTP status and an OpenAI error body
- `x-fake-delay-headers: 2.5` wait that long before sending response headers
- `x-fake-stall-after: 2`     (streams) stall forever after that many chunks
- `x-fake-chunk-delay: 0.01`  (streams) pause between chunks
- `x-fake-tokens: 5`          number of completion tokens to produce

Every request it receives is appended to `FakeUpstream.received` (path, body).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from aiohttp import web

MODEL = "fake-model"
VLLM_METRICS = Path(__file__).parent / "fixtures" / "vllm-0.32-cpu-metrics.txt"


class FakeUpstream:
    """The app plus what it has seen."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict | None]] = []
        self.headers_seen: list[dict[str, str]] = []  # of each generate request, lower-cased
        self.cancelled = 0
        self.app = web.Application()
        self.app.router.add_get("/health", self.health)
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_post("/v1/chat/completions", self.generate)
        self.app.router.add_post("/v1/completions", self.generate)
        self.app.router.add_post("/v1/embeddings", self.embeddings)
        self.app.router.add_post("/tokenize", self.tokenize)
        # Stand-ins for vLLM routes the agent must not forward by default: served here, so a
        # request that got through shows up in `received`.
        for path in ("/sleep", "/collective_rpc", "/v1/responses", "/v1/load_lora_adapter"):
            self.app.router.add_post(path, self.control)
        self.app.router.add_get("/redirect", self.redirect)

    async def control(self, request: web.Request) -> web.Response:
        self.received.append((request.path, None))
        return web.json_response({"done": True})

    async def redirect(self, request: web.Request) -> web.Response:
        self.received.append((request.path, None))
        raise web.HTTPTemporaryRedirect("/sleep")

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def metrics(self, request: web.Request) -> web.Response:
        # A real vLLM 0.32 /metrics capture, so the vLLM collector has a real page to read.
        return web.Response(text=VLLM_METRICS.read_text(), content_type="text/plain")

    async def models(self, request: web.Request) -> web.Response:
        self.received.append((request.path, None))
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((request.path, body))
        return web.json_response({"tokens": list(range(len(body.get("prompt", "").split())))})

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((request.path, body))
        n = len(str(body.get("input", "")).split())
        return web.json_response(
            {
                "object": "list",
                "model": body.get("model"),
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                "usage": {"prompt_tokens": n, "total_tokens": n},
            }
        )

    async def generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append((request.path, body))
        self.headers_seen.append({k.lower(): v for k, v in request.headers.items()})
        h = request.headers
        if "x-fake-delay-headers" in h:
            await asyncio.sleep(float(h["x-fake-delay-headers"]))
        if "x-fake-status" in h:
            status = int(h["x-fake-status"])
            return web.json_response(
                {"error": {"message": f"scripted {status}", "type": "fake", "code": status}},
                status=status,
            )
        chat = request.path.endswith("chat/completions")
        n_out = int(h.get("x-fake-tokens", "5"))
        n_in = _prompt_tokens(body, chat)
        if body.get("stream"):
            return await self._stream(request, body, chat, n_in, n_out)
        return web.json_response(_full(body, chat, n_in, n_out))

    async def _stream(self, request, body, chat, n_in, n_out) -> web.StreamResponse:
        h = request.headers
        stall_after = int(h.get("x-fake-stall-after", "-1"))
        delay = float(h.get("x-fake-chunk-delay", "0"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        usage = (body.get("stream_options") or {}).get("include_usage")
        try:
            for i, chunk in enumerate(_chunks(body, chat, n_out, bool(usage))):
                if i == stall_after:
                    await asyncio.sleep(3600)
                await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
                if delay:
                    await asyncio.sleep(delay)
            if usage:
                u = {
                    "prompt_tokens": n_in,
                    "completion_tokens": n_out,
                    "total_tokens": n_in + n_out,
                }
                last = _base(body, chat) | {"choices": [], "usage": u}
                await resp.write(b"data: " + orjson.dumps(last) + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled += 1
            raise
        return resp


def _prompt_tokens(body: dict, chat: bool) -> int:
    if chat:
        return sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) + 3
    return len(str(body.get("prompt", "")).split())


def _base(body: dict, chat: bool) -> dict:
    return {
        "id": "cmpl-fake",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
    }


def _chunks(body: dict, chat: bool, n_out: int, usage: bool):
    extra = {"usage": None} if usage else {}
    if chat:
        yield (
            _base(body, chat)
            | {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ]
            }
            | extra
        )
    for i in range(n_out):
        last = i == n_out - 1
        fr = "length" if last else None
        if chat:
            choice = {"index": 0, "delta": {"content": f" tok{i}"}, "finish_reason": fr}
        else:
            choice = {"index": 0, "text": f" tok{i}", "finish_reason": fr}
        yield _base(body, chat) | {"choices": [choice]} | extra


def _full(body: dict, chat: bool, n_in: int, n_out: int) -> dict:
    text = "".join(f" tok{i}" for i in range(n_out))
    if chat:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "length",
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": "length"}
        obj = "text_completion"
    return _base(body, chat) | {
        "object": obj,
        "choices": [choice],
        "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
    }
