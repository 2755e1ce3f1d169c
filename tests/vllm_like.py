"""A vLLM-like test upstream (aiohttp, not vLLM): answers chat with a completion that holds
SECRET, laid out the way vLLM 0.32 does for the fields that matter to the safety filters
and the meters (from the attacker review of issue 15). vLLM's request models are pydantic
in lax mode: `"stream": 1` is a stream; `logprobs`, `return_token_ids`, reasoning and
tool-call deltas carry the generated text outside `content`.
"""

from __future__ import annotations

import orjson
from aiohttp import web

SECRET = (
    "sk-proj-" + "Q7vX2kLm9PzR4tYw8NbC3dFg6HjK1sAe5uIo0"
)  # what the output filter must never let out


def _lax_bool(v) -> bool:
    # pydantic v2 lax bool, as vLLM's ChatCompletionRequest.stream parses it
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    return isinstance(v, str) and v.lower() in ("1", "true", "t", "yes", "y", "on")


class VllmLike:
    """Answers chat with a completion that holds SECRET, the way vLLM lays it out."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)  # vLLM has no 1 MiB cap
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_get("/health", self.ok)

    async def ok(self, request):
        return web.Response(text="")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        text = f"the key is {SECRET} ok"
        tokens = text.split(" ")
        if _lax_bool(body.get("stream")):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for i, tok in enumerate(tokens):
                piece = tok if i == 0 else " " + tok
                if body.get("tools"):
                    delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                else:
                    delta = {"content": piece}
                ev = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                await resp.write(b"data: " + orjson.dumps(ev) + b"\n\n")
            ev = {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            await resp.write(b"data: " + orjson.dumps(ev) + b"\n\n")
            if _lax_bool((body.get("stream_options") or {}).get("include_usage")):
                usage = {"prompt_tokens": 3, "completion_tokens": len(tokens)}
                ev = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []}
                await resp.write(b"data: " + orjson.dumps({**ev, "usage": usage}) + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        if body.get("logprobs"):
            choice["logprobs"] = {
                "content": [
                    {
                        "token": (t if i == 0 else " " + t),
                        "logprob": -0.1,
                        "bytes": None,
                        "top_logprobs": [],
                    }
                    for i, t in enumerate(tokens)
                ]
            }
        if body.get("return_token_ids"):
            choice["token_ids"] = [ord(c) for c in text]  # stand-in for real ids
        if body.get("include_reasoning", True) and body.get("reasoning_effort"):
            choice["message"]["reasoning"] = f"thinking about {SECRET}"
        return web.json_response(
            {
                "id": "c",
                "object": "chat.completion",
                "model": "m",
                "choices": [choice],
                "usage": {"prompt_tokens": 3, "completion_tokens": len(tokens), "total_tokens": 9},
            }
        )
