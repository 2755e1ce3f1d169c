"""A vLLM stand-in (aiohttp, not vLLM) for the safety and proxy tests: chat and completions
answering TEXT, which holds SECRET, laid out the way vLLM 0.32 does, in the field the
`x-test-field` header names: content, reasoning, reasoning_content, refusal, or a tool
call's arguments (streams cut into 5-character pieces, so SECRET spans many events). Like
vLLM's pydantic models it reads `"stream": 1` or `"yes"` as a stream (lax bool), and sends
a usage chunk when asked."""

from __future__ import annotations

import orjson
from aiohttp import web

SECRET = "sk-proj-" + "Q7vX2kLm9PzR4tYw8NbC3dFg6HjK1sAe5uIo0"  # must never get out
TEXT = f"the key is {SECRET} ok"


def _lax_bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    return isinstance(v, str) and v.lower() in ("1", "true", "t", "yes", "y", "on")


class VllmStandIn:
    """Chat and completions answering TEXT (a stand-in for vLLM); `bodies` holds every
    request that reached it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)  # vLLM has no 1 MiB cap
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_post("/v1/completions", self.completions)

    async def completions(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        choice = {"index": 0, "text": "fine", "finish_reason": "stop"}
        return web.json_response({"id": "c", "model": "m", "choices": [choice]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        field = request.headers.get("x-test-field", "content")
        if _lax_bool(body.get("stream")):  # as vLLM's pydantic model reads it
            return await self._stream(request, field, body)
        msg: dict = {"role": "assistant", "content": "fine"}
        if field == "tool":
            fn = {"name": "f", "arguments": orjson.dumps({"k": TEXT}).decode()}
            msg["tool_calls"] = [{"id": "t", "type": "function", "function": fn}]
        else:
            msg[field] = TEXT
        choice: dict = {"index": 0, "message": msg, "finish_reason": "stop"}
        if body.get("logprobs"):  # what vLLM sends when asked: every token's text
            choice["logprobs"] = {"content": [{"token": p, "logprob": -0.1} for p in _cut(TEXT)]}
        return web.json_response({"id": "c", "model": "m", "choices": [choice]})

    async def _stream(self, request: web.Request, field: str, body: dict) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if field == "tool":
            head = {"index": 0, "id": "t", "type": "function"}
            head["function"] = {"name": "f", "arguments": ""}
            await resp.write(_event({"role": "assistant", "tool_calls": [head]}))
            text = orjson.dumps({"k": TEXT}).decode()
        else:
            text = TEXT
        for piece in _cut(text):
            if field == "tool":
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            else:
                delta = {field: piece}
            await resp.write(_event(delta))
        await resp.write(_event({}, "stop"))
        if _lax_bool((body.get("stream_options") or {}).get("include_usage")):
            usage = {"prompt_tokens": 3, "completion_tokens": len(_cut(text))}
            obj = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []}
            await resp.write(b"data: " + orjson.dumps({**obj, "usage": usage}) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _cut(text: str) -> list[str]:
    return [text[i : i + 5] for i in range(0, len(text), 5)]


def _event(delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    obj = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
    return b"data: " + orjson.dumps(obj) + b"\n\n"
