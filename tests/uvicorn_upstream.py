"""An OpenAI-shaped test upstream on FastAPI + uvicorn (not vLLM), served on a loopback port.

vLLM's HTTP server is FastAPI on uvicorn; this app speaks HTTP the same way (it answers
`Expect: 100-continue` with `100 Continue` first, keeps connections alive, sends
Starlette's errors), which the aiohttp test upstream (`tests/fake_upstream.py`) does not.

    with UvicornUpstream() as up:           # a real uvicorn server in a thread
        ... up.url ..., up.seen[request_id] # what it answered, by the agent's x-request-id

Every answer echoes the prompt (chat: the messages' text; completions: the prompt), so a
client that put a unique marker in its prompt can tell whether the answer is its own. A
small random delay before each answer (and between stream chunks) makes requests overlap.
The request header `x-test-status: 503` makes it answer that status with a vLLM-style
error body. `seen` maps each request's `x-request-id` to what was sent back.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from dataclasses import dataclass

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

MODEL = "uvicorn-test-model"
MAX_DELAY_S = 0.02


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the upstream saw and answered it."""

    path: str
    status: int
    expect: str | None  # the `Expect` header it received, if any
    stream: bool
    prompt: str | None = None  # the prompt text it was given (chat and completions)


def _error(status: int, message: str, err_type: str = "BadRequestError") -> JSONResponse:
    # vLLM 0.32's error envelope.
    body = {"error": {"message": message, "type": err_type, "param": None, "code": status}}
    return JSONResponse(body, status_code=status)


def _prompt_text(body: dict, chat: bool) -> str:
    """The text the answer echoes: every string in the messages, or the prompt."""
    if not chat:
        prompt = body.get("prompt", "")
        return prompt if isinstance(prompt, str) else orjson.dumps(prompt).decode()
    parts: list[str] = []
    messages = body.get("messages")
    for m in messages if isinstance(messages, list) else ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return " ".join(parts)


class UpstreamApp:
    """The FastAPI app and the log of what it answered."""

    def __init__(self, max_delay_s: float = MAX_DELAY_S) -> None:
        self.max_delay_s = max_delay_s
        self.seen: dict[str, Seen] = {}
        self.app = FastAPI()
        r = self.app.router
        r.add_api_route("/health", self.health, methods=["GET"])
        r.add_api_route("/v1/models", self.models, methods=["GET"])
        r.add_api_route("/metrics", self.metrics, methods=["GET"])
        r.add_api_route("/v1/chat/completions", self.chat, methods=["POST"])
        r.add_api_route("/v1/completions", self.completions, methods=["POST"])
        r.add_api_route("/v1/embeddings", self.embeddings, methods=["POST"])
        r.add_api_route("/tokenize", self.tokenize, methods=["POST"])
        r.add_api_route("/detokenize", self.detokenize, methods=["POST"])

    def _log(
        self, request: Request, status: int, stream: bool = False, prompt: str | None = None
    ) -> None:
        rid = request.headers.get("x-request-id")
        if rid is not None:
            expect = request.headers.get("expect")
            self.seen[rid] = Seen(request.url.path, status, expect, stream, prompt)

    async def _body(self, request: Request) -> dict | JSONResponse:
        """The JSON object body, or the error response vLLM would give. The body is read
        first (uvicorn sends `100 Continue` then), then a random delay, as a model's work."""
        raw = await request.body()
        await asyncio.sleep(random.uniform(0, self.max_delay_s))
        if "x-test-status" in request.headers:
            status = int(request.headers["x-test-status"])
            self._log(request, status)
            return _error(status, f"scripted {status}", "InternalServerError")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            self._log(request, 400)
            return _error(400, f"malformed JSON: {err}")
        if not isinstance(body, dict):
            self._log(request, 400)
            return _error(400, "body must be a JSON object")
        return body

    async def health(self, request: Request) -> Response:
        return Response(status_code=200)

    async def metrics(self, request: Request) -> Response:
        return PlainTextResponse("")

    async def models(self, request: Request) -> JSONResponse:
        self._log(request, 200)
        data = [{"id": MODEL, "object": "model", "created": 0, "owned_by": "test"}]
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        return await self._generate(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._generate(request, chat=False)

    async def _generate(self, request: Request, chat: bool) -> Response:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        prompt = _prompt_text(body, chat)
        text = "echo: " + prompt
        rid = request.headers.get("x-request-id", "none")
        n_in = len(text.split())
        usage = {"prompt_tokens": n_in, "completion_tokens": n_in, "total_tokens": 2 * n_in}
        head = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{rid}",
            "created": int(time.time()),
            "model": body.get("model") if isinstance(body.get("model"), str) else MODEL,
        }
        if body.get("stream") is True:
            self._log(request, 200, stream=True, prompt=prompt)
            opts = body.get("stream_options")
            with_usage = isinstance(opts, dict) and opts.get("include_usage") is True
            events = self._events(head, text, chat, usage if with_usage else None)
            return StreamingResponse(events, media_type="text/event-stream")
        self._log(request, 200, prompt=prompt)
        if chat:
            msg = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": msg, "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop"}
        obj = "chat.completion" if chat else "text_completion"
        return JSONResponse(head | {"object": obj, "choices": [choice], "usage": usage})

    async def _events(self, head: dict, text: str, chat: bool, usage: dict | None):
        obj = {"object": "chat.completion.chunk" if chat else "text_completion"}
        words = text.split(" ")
        pieces = [" ".join(words[i : i + 3]) + " " for i in range(0, len(words), 3)]
        if chat:
            delta = {"role": "assistant", "content": ""}
            yield _sse(head | obj | {"choices": [{"index": 0, "delta": delta}]})
        for i, piece in enumerate(pieces):
            await asyncio.sleep(random.uniform(0, self.max_delay_s / 4))
            fr = "stop" if i == len(pieces) - 1 else None
            part = {"delta": {"content": piece}} if chat else {"text": piece}
            yield _sse(head | obj | {"choices": [{"index": 0, **part, "finish_reason": fr}]})
        if usage is not None:
            yield _sse(head | obj | {"choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        self._log(request, 200)
        n = len(str(body.get("input", "")).split())
        data = [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}]
        usage = {"prompt_tokens": n, "total_tokens": n}
        return JSONResponse({"object": "list", "model": MODEL, "data": data, "usage": usage})

    async def tokenize(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        self._log(request, 200)
        tokens = list(range(len(_prompt_text(body, "messages" in body).split())))
        return JSONResponse({"count": len(tokens), "max_model_len": 2048, "tokens": tokens})

    async def detokenize(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        self._log(request, 200)
        tokens = body.get("tokens")
        n = len(tokens) if isinstance(tokens, list) else 0
        return JSONResponse({"prompt": " ".join(f"t{i}" for i in range(n))})


def _sse(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class UvicornUpstream:
    """`UpstreamApp` served by a real uvicorn server in a background thread.

    The socket is bound before the thread starts (127.0.0.1, a free port), so `url` is
    usable at once and no other process can take the port in between.
    """

    def __init__(self, max_delay_s: float = MAX_DELAY_S) -> None:
        self.upstream = UpstreamApp(max_delay_s)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.upstream.app, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def seen(self) -> dict[str, Seen]:
        """What was answered, by the request's `x-request-id`."""
        return self.upstream.seen

    def start(self) -> UvicornUpstream:
        """Serve; returns once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn test upstream did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> UvicornUpstream:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
