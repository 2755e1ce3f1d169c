"""A small OpenAI-compatible server that generates with transformers on the GPU (CUDA when
there is one, else the CPU), for bench/gpu_check.sh: the agent needs a real process whose
GPU memory, utilisation and energy it can meter, and vLLM is not on the GPU machine.

    python bench/gpu_server.py --model DIR [--host 127.0.0.1] [--port 8001]

Serves /v1/chat/completions and /v1/completions (streamed as server-sent events, or not;
`usage` in every answer, and in a last chunk when `stream_options.include_usage` asks, as
vLLM does), /v1/models and /health. `ignore_eos: true` (vLLM's extension) makes a request
generate exactly `max_tokens`.

Generation is SERIALISED: one request generates at a time (an asyncio lock around a worker
thread), the others wait their turn. Batching would load the GPU more, but the check is
about metering a GPU process, not about serving fast; a lock keeps the server small.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import orjson
from aiohttp import web

from bench.gpu_generate import Generator


def _usage(prompt: int, completion: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _choice(chat: bool, text: str, finish: str | None, stream: bool) -> dict:
    if not chat:
        return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    key = "delta" if stream else "message"
    return {"index": 0, key: {"role": "assistant", "content": text}, "finish_reason": finish}


class Server:
    """The HTTP side: parses OpenAI requests, hands them to the generator one at a time."""

    def __init__(self, gen: Generator, name: str) -> None:
        self.gen, self.name = gen, name
        self.lock = asyncio.Lock()  # serialised generation, see the module docstring

    def app(self) -> web.Application:
        """The aiohttp application with every route."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        return app

    async def health(self, _req: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(self, _req: web.Request) -> web.Response:
        model = {"id": self.name, "object": "model", "created": 0, "owned_by": "bench"}
        return web.json_response({"object": "list", "data": [model]})

    async def chat(self, req: web.Request) -> web.StreamResponse:
        return await self._answer(req, chat=True)

    async def completions(self, req: web.Request) -> web.StreamResponse:
        return await self._answer(req, chat=False)

    async def _answer(self, req: web.Request, chat: bool) -> web.StreamResponse:
        try:
            body = await req.json(loads=orjson.loads)
            ids = self.gen.encode(body["messages"] if chat else body["prompt"], chat)
        except (ValueError, KeyError, TypeError) as err:
            return web.json_response({"error": {"message": f"bad request: {err}"}}, status=400)
        max_tokens = int(body.get("max_tokens") or 16)
        exact = bool(body.get("ignore_eos", False))
        if body.get("stream"):
            return await self._stream(req, body, chat, ids, max_tokens, exact)
        async with self.lock:
            out = await asyncio.to_thread(self.gen.generate, ids, max_tokens, exact)
        finish = "length" if len(out) >= max_tokens else "stop"
        return web.json_response(
            {
                **self._head(chat, stream=False),
                "choices": [_choice(chat, self.gen.decode(out), finish, stream=False)],
                "usage": _usage(len(ids), len(out)),
            }
        )

    def _head(self, chat: bool, stream: bool) -> dict:
        kind = "chat.completion" if chat else "text_completion"
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": kind + (".chunk" if stream and chat else ""),
            "created": int(time.time()),
            "model": self.name,
        }

    async def _stream(self, req, body, chat, ids, max_tokens, exact) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(req)
        head, count = self._head(chat, stream=True), 0
        async with self.lock:
            async for token in self.gen.stream(ids, max_tokens, exact):
                count += 1
                chunk = {**head, "choices": [_choice(chat, self.gen.decode([token]), None, True)]}
                await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        finish = "length" if count >= max_tokens else "stop"
        last = {**head, "choices": [_choice(chat, "", finish, True)]}
        await resp.write(b"data: " + orjson.dumps(last) + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {**head, "choices": [], "usage": _usage(len(ids), count)}
            await resp.write(b"data: " + orjson.dumps(usage) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def main(argv: list[str] | None = None) -> int:
    """Load the model and serve until interrupted."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, metavar="DIR", help="model directory (transformers)")
    p.add_argument("--name", help="model name clients send (default: DIR's name)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8001, help="port to bind (default 8001)")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    args = p.parse_args(argv)
    gen = Generator.load(args.model, args.device)
    name = args.name or args.model.rstrip("/").rsplit("/", 1)[-1]
    print(f"gpu_server: {name} on {gen.device}, serialised generation", flush=True)
    web.run_app(Server(gen, name).app(), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
