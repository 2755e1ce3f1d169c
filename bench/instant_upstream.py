"""An instant OpenAI-compatible upstream for the proxy benchmark: it answers at once, doing
as little work as it can, so that what is measured through a proxy is the proxy.

- `POST /v1/chat/completions`, `/v1/completions`: non-streaming, a fixed small completion with
  `usage`; streaming (`"stream": true`), a role chunk, `max_tokens` one-token chunks written
  as fast as the socket takes them (one write each, like vLLM), a finish chunk, a usage-only
  chunk when `stream_options.include_usage` is set, then `data: [DONE]`.
- `GET /health`: 200.

Run: `python bench/instant_upstream.py --port 8001`.
"""

from __future__ import annotations

import argparse
import asyncio

import orjson
from aiohttp import web

MODEL = "instant"
_BASE = {"id": "cmpl-bench", "created": 0, "model": MODEL}
_COMPLETION = orjson.dumps(
    {
        **_BASE,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
    }
)


def _event(delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    chunk = {**_BASE, "object": "chat.completion.chunk", "choices": [choice]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


_ROLE = _event({"role": "assistant", "content": ""})
_TOKEN = _event({"content": "x"})
_FINISH = _event({}, "stop")
_DONE = b"data: [DONE]\n\n"


def _usage_event(n: int) -> bytes:
    usage = {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}
    chunk = {**_BASE, "object": "chat.completion.chunk", "choices": [], "usage": usage}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def generate(request: web.Request) -> web.StreamResponse:
    """Answer a completion request at once (streamed or not)."""
    body = orjson.loads(await request.read())
    if body.get("stream") is not True:
        return web.Response(body=_COMPLETION, content_type="application/json")
    n = int(body.get("max_tokens") or 16)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_ROLE)
    for _ in range(n):
        await resp.write(_TOKEN)
    await resp.write(_FINISH)
    if (body.get("stream_options") or {}).get("include_usage") is True:
        await resp.write(_usage_event(n))
    await resp.write(_DONE)
    await resp.write_eof()
    return resp


async def health(request: web.Request) -> web.Response:
    """Liveness, also probed by the agent."""
    return web.Response(text="ok")


def make_app() -> web.Application:
    """The upstream's aiohttp application."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", generate)
    app.router.add_post("/v1/completions", generate)
    app.router.add_get("/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
