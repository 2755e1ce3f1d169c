"""The measuring reverse proxy: OpenAI-compatible requests in, vLLM behind, one record out.

The request path does no I/O but the upstream call: metrics are in-memory observations
and the finished `RequestRecord` is put on a bounded queue without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import orjson
from aiohttp import web

from agent import errors
from agent.config import Settings
from agent.deadlines import Deadlines
from agent.ids import new_span_id, request_id_from, trace_ids
from agent.metrics import RequestMetrics
from agent.pipeline import RecordPipeline
from agent.record import (
    OP_CHAT,
    OP_COMPLETION,
    OP_EMBEDDINGS,
    OP_OTHER,
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_OK,
    RequestRecord,
)
from agent.safety.engine import FINISH_BLOCKED, POLICY_CODE
from agent.safety.request import RequestSafety
from agent.safety.sse import SSEGuard
from agent.safety.stage import SafetyStage
from agent.sse import SSEWatcher
from agent.tenancy import TenantResolver
from agent.upstream import Upstream

log = logging.getLogger("inferwatch.proxy")
_now = time.monotonic_ns

OPERATIONS = {
    "/v1/chat/completions": OP_CHAT,
    "/v1/completions": OP_COMPLETION,
    "/v1/embeddings": OP_EMBEDDINGS,
}
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
        "Accept-Encoding",
        "Content-Encoding",
    )
)
OVERHEAD_HEADER = "x-inferwatch-overhead-ms"


class _Failure(Exception):
    """A request the agent answers itself with an error (nothing or nothing more forwarded)."""

    def __init__(self, status: int, err_type: str, message: str, body: bytes | None = None):
        super().__init__(message)
        self.status, self.err_type, self.message = status, err_type, message
        self.body = body  # a ready error body (a safety block names its policy), else built


@dataclass(slots=True)
class _Ctx:
    """Mutable facts gathered while serving one request; frozen into a record at the end."""

    start_ns: int
    wall: float
    request_id: str
    trace_id: str
    parent_span: str | None
    span_id: str
    tenant: str
    operation: str
    path: str
    model: str = ""
    stream: bool = False
    first_token_ns: int | None = None
    overhead_ns: int = 0
    response_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    status: str = STATUS_OK
    http_status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    extra: dict = field(default_factory=dict)
    safety: RequestSafety | None = None
    stream_done: bool = False  # the client has the stream's `[DONE]`: a hang-up now is no cancel

    def fail(self, status: int, err_type: str, message: str) -> None:
        self.status, self.http_status = STATUS_ERROR, status
        self.error_type, self.error_message = err_type, message

    def first_token(self) -> None:
        if self.first_token_ns is None:
            self.first_token_ns = _now()

    def usage(self, usage: dict | None) -> None:
        if usage:
            self.prompt_tokens = usage.get("prompt_tokens")
            self.completion_tokens = usage.get("completion_tokens")

    def freeze(self, end_ns: int) -> RequestRecord:
        return RequestRecord(
            request_id=self.request_id,
            trace_id=self.trace_id,
            span_id=self.span_id,
            tenant=self.tenant,
            model=self.model,
            operation=self.operation,
            path=self.path,
            stream=self.stream,
            wall_time=self.wall,
            start_ns=self.start_ns,
            end_ns=end_ns,
            first_token_ns=self.first_token_ns,
            response_model=self.response_model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            finish_reason=self.finish_reason,
            status=self.status,
            http_status=self.http_status,
            error_type=self.error_type,
            error_message=self.error_message,
            overhead_ns=self.overhead_ns,
            extra=self.extra,
            parent_span_id=self.parent_span,
        )


class _IdleWatch:
    """Closes an upstream response that stays silent for `idle_s`; O(1) per chunk."""

    def __init__(self, idle_s: float, resp: aiohttp.ClientResponse) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle, self._resp = idle_s, resp
        self.last = self._loop.time()
        self.fired = False
        self._handle = self._loop.call_later(idle_s, self._check)

    def _check(self) -> None:
        silent = self._loop.time() - self.last
        if silent >= self._idle:
            self.fired = True
            self._resp.close()
        else:
            self._handle = self._loop.call_later(self._idle - silent, self._check)

    def touch(self) -> None:
        self.last = self._loop.time()

    def cancel(self) -> None:
        self._handle.cancel()


class Proxy:
    """aiohttp handlers for the proxied API."""

    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        metrics: RequestMetrics,
        pipeline: RecordPipeline,
    ) -> None:
        self._s = settings
        self._up = upstream
        self._metrics = metrics
        self._pipeline = pipeline
        self._tenants = TenantResolver(settings.tenants)
        self._timeouts = settings.upstream.timeouts
        self._max_body = settings.limits.max_body_bytes
        self._deadlines = Deadlines()  # first-byte and body limits (asyncio.timeout costs more)
        # Set by the bundled-vLLM supervisor: returns a `_Failure`-like exception to raise
        # (e.g. 503 while vLLM restarts), or None to let the request through.
        self.gate = None
        # Where finished records go. The default hands them straight to the pipeline; a
        # stage such as the cost engine may replace it to enrich records first (it then
        # submits them itself). Called on the request path: must not block.
        self.finish = pipeline.submit
        # Optional callable(request_id, start_ns, tenant, model, stream) when a request is
        # about to be sent upstream (for stages that track requests in flight).
        self.on_begin = None
        # The safety stage (agent.safety.wiring.install_safety sets it), or None.
        self.safety: SafetyStage | None = None

    # ---- entry points -------------------------------------------------------------------

    async def handle_genai(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/chat/completions, /v1/completions, /v1/embeddings."""
        ctx = self._begin(request, OPERATIONS[request.path])
        return await self._serve(request, ctx, self._genai)

    async def handle_passthrough(self, request: web.Request) -> web.StreamResponse:
        """Any other path (GET /v1/models, /tokenize, ...): forwarded as is, streamed back."""
        ctx = self._begin(request, OP_OTHER)
        return await self._serve(request, ctx, self._passthrough)

    # ---- shared frame -------------------------------------------------------------------

    def _begin(self, request: web.Request, operation: str) -> _Ctx:
        h = request.headers
        trace_id, parent = trace_ids(h.get("traceparent"))
        return _Ctx(
            start_ns=_now(),
            wall=time.time(),
            request_id=request_id_from(h.get("x-request-id")),
            trace_id=trace_id,
            parent_span=parent,
            span_id=new_span_id(),
            tenant=self._tenants.resolve(h),
            operation=operation,
            path=request.path,
        )

    async def _serve(self, request: web.Request, ctx: _Ctx, inner) -> web.StreamResponse:
        gauge = self._metrics.in_flight.labels(ctx.operation)
        gauge.inc()
        try:
            return await inner(request, ctx)
        except _Failure as f:
            ctx.fail(f.status, f.err_type, f.message)
            if f.body is not None:
                headers = {"x-request-id": ctx.request_id}
                return web.Response(
                    status=f.status, body=f.body, content_type="application/json", headers=headers
                )
            return self._error(ctx, f.status, f.message, f.err_type)
        except (asyncio.CancelledError, ConnectionResetError):
            # Clients (the openai SDK) hang up once they read `[DONE]`, sometimes before the
            # upstream's last bytes reach the agent: such a stream was served in full.
            if not ctx.stream_done:
                ctx.status, ctx.error_type = STATUS_CANCELLED, errors.CANCELLED
                ctx.error_message = "client disconnected"
                ctx.http_status = 499  # nginx's code for 'client closed request'
            raise
        finally:
            gauge.dec()
            record = ctx.freeze(_now())
            self._metrics.observe(record)
            if ctx.safety is not None and self.safety is not None:
                self.safety.finish(record, ctx.safety, self.finish)  # merges verdicts first
            else:
                self.finish(record)

    def _error(self, ctx: _Ctx, status: int, message: str, err_type: str) -> web.Response:
        headers = {"x-request-id": ctx.request_id}
        if status == 503:
            headers["Retry-After"] = "5"
        return errors.error_response(status, message, err_type, headers)

    def _upstream_headers(self, request: web.Request, ctx: _Ctx) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["x-request-id"] = ctx.request_id
        headers["traceparent"] = f"00-{ctx.trace_id}-{ctx.span_id}-01"
        # Set here rather than through the session's `skip_auto_headers`, which makes aiohttp
        # build and merge a header multidict on every request (measured 10 us a request).
        headers["Accept-Encoding"] = "identity"
        return headers

    def _response_headers(self, resp: aiohttp.ClientResponse, ctx: _Ctx) -> dict[str, str]:
        headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["x-request-id"] = ctx.request_id
        return headers

    async def _open(
        self, method: str, ctx: _Ctx, url: str, headers, data, path: str | None = None
    ) -> aiohttp.ClientResponse:
        """Send the request upstream and wait for its headers, mapping failures to 502/504.
        With `path` (a body of bytes to POST), the lean client sends it when configured."""
        if self.gate is not None:
            blocked = self.gate()
            if blocked is not None:
                raise blocked
        lean = self._up.lean if path is not None else None
        try:
            with self._deadlines.limit(self._timeouts.first_byte_s):
                if lean is not None:
                    resp = await lean.request(method, path, headers, data)
                else:
                    resp = await self._up.session.request(method, url, headers=headers, data=data)
        except aiohttp.ConnectionTimeoutError:
            # Checked first: aiohttp's connect timeout is also a TimeoutError.
            self._up.mark(False, "connect timeout")
            raise _Failure(
                504, errors.UPSTREAM_TIMEOUT, "timed out connecting to the upstream"
            ) from None
        except TimeoutError:
            raise _Failure(
                504,
                errors.UPSTREAM_TIMEOUT,
                f"upstream sent no response within {self._timeouts.first_byte_s:g}s",
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as err:
            self._up.mark(False, str(err) or type(err).__name__)
            raise _Failure(
                502, errors.UPSTREAM_UNAVAILABLE, f"upstream unavailable: {err}"
            ) from None
        if self._up.state.up is not True:
            self._up.mark(True)
        return resp

    # ---- the generative endpoints --------------------------------------------------------

    async def _read_json(self, request: web.Request) -> dict:
        ctype = request.headers.get("Content-Type", "")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            raise _Failure(
                415, errors.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json"
            )
        if request.content_length is not None and request.content_length > self._max_body:
            raise _Failure(413, errors.BODY_TOO_LARGE, f"request body over {self._max_body} bytes")
        try:
            raw = await request.content.read(self._max_body + 1)
        except aiohttp.web.HTTPRequestEntityTooLarge:
            raise _Failure(
                413, errors.BODY_TOO_LARGE, f"request body over {self._max_body} bytes"
            ) from None
        if len(raw) > self._max_body:
            raise _Failure(413, errors.BODY_TOO_LARGE, f"request body over {self._max_body} bytes")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise _Failure(400, errors.BAD_REQUEST, f"malformed JSON body: {err}") from None
        if not isinstance(body, dict):
            raise _Failure(400, errors.BAD_REQUEST, "JSON body must be an object")
        return body

    async def _genai(self, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
        body = await self._read_json(request)
        model = body.get("model")
        ctx.model = model if isinstance(model, str) else ""
        ctx.stream = body.get("stream") is True and ctx.operation != OP_EMBEDDINGS
        self._check_request(ctx, body)
        client_wants_usage = True
        if ctx.stream:
            opts = body.get("stream_options")
            opts = opts if isinstance(opts, dict) else {}
            client_wants_usage = opts.get("include_usage") is True
            if not client_wants_usage:
                body["stream_options"] = {**opts, "include_usage": True}
        data = orjson.dumps(body)
        headers = self._upstream_headers(request, ctx)
        headers["Content-Type"] = "application/json"
        if self.on_begin is not None:
            self.on_begin(ctx.request_id, ctx.start_ns, ctx.tenant, ctx.model, ctx.stream)
        ctx.overhead_ns = _now() - ctx.start_ns
        path = request.path
        resp = await self._open("POST", ctx, self._up.url + path, headers, data, path)
        try:
            if ctx.stream and resp.content_type == "text/event-stream":
                return await self._relay_sse(request, ctx, resp, drop_usage=not client_wants_usage)
            return await self._relay_json(ctx, resp)
        finally:
            # An unfinished body means we gave up on it: close the connection so that
            # vLLM sees the hang-up and aborts the request instead of generating on.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    def _check_request(self, ctx: _Ctx, body: dict) -> None:
        """Safety filters on the request: redacts `body` in place, or refuses it (400)."""
        if self.safety is None:
            return
        ctx.safety = self.safety.begin(ctx.operation)
        block = ctx.safety.check_request(body) if ctx.safety is not None else None
        if block is not None:
            raise _Failure(400, POLICY_CODE, block.message, orjson.dumps(block.error()))

    async def _relay_json(self, ctx: _Ctx, resp: aiohttp.ClientResponse) -> web.Response:
        try:
            with self._deadlines.limit(self._timeouts.idle_s):
                payload = await resp.read()
        except TimeoutError:
            raise _Failure(
                504, errors.UPSTREAM_TIMEOUT, "upstream stalled sending its response"
            ) from None
        except aiohttp.ClientError as err:
            raise _Failure(
                502, errors.UPSTREAM_PROTOCOL, f"upstream response broken: {err}"
            ) from None
        t = _now()
        ctx.first_token_ns = t  # non-streaming: the first token reaches the client with the rest
        ctx.http_status = resp.status
        if resp.status >= 400:
            ctx.fail(resp.status, str(resp.status), payload[:512].decode("utf-8", "replace"))
        elif resp.content_type == "application/json":
            if ctx.safety is not None:
                payload = ctx.safety.check_response(payload)
            self._note_json(ctx, payload)
        headers = self._response_headers(resp, ctx)
        ctx.overhead_ns += _now() - t
        headers[OVERHEAD_HEADER] = f"{ctx.overhead_ns / 1e6:.3f}"
        return web.Response(status=resp.status, body=payload, headers=headers)

    @staticmethod
    def _note_json(ctx: _Ctx, payload: bytes) -> None:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict):
            return
        ctx.usage(obj.get("usage"))
        ctx.response_model = obj.get("model")
        choices = obj.get("choices")
        if choices and isinstance(choices, list) and isinstance(choices[0], dict):
            ctx.finish_reason = choices[0].get("finish_reason")

    async def _relay_sse(
        self, request: web.Request, ctx: _Ctx, resp: aiohttp.ClientResponse, drop_usage: bool
    ) -> web.StreamResponse:
        watcher = SSEWatcher(drop_usage, ctx.first_token)
        guard = SSEGuard(ctx.safety)
        content = resp.content
        # The client's headers wait for the first upstream bytes, so a stall before any
        # byte is still a clean 504 rather than a 200 that never ends.
        try:
            with self._deadlines.limit(self._timeouts.first_byte_s):
                first = await content.readany()
        except TimeoutError:
            raise _Failure(
                504, errors.UPSTREAM_TIMEOUT, "upstream sent headers but no data"
            ) from None
        t = _now()
        out = web.StreamResponse(status=resp.status, headers=self._response_headers(resp, ctx))
        ctx.http_status = resp.status
        ctx.overhead_ns += _now() - t
        out.headers[OVERHEAD_HEADER] = f"{ctx.overhead_ns / 1e6:.3f}"
        await out.prepare(request)
        watch = _IdleWatch(self._timeouts.idle_s, resp)
        try:
            chunk = first
            while chunk:
                piece = guard.pass_on(watcher.feed(chunk))
                if piece:
                    await out.write(piece)
                if watcher.done and not ctx.stream_done:
                    self._note_stream(ctx, watcher)  # all it says came before `[DONE]`
                    ctx.stream_done = True
                if guard.stopped:
                    break  # blocked: the upstream is closed when the response is released
                chunk = await content.readany()
                watch.touch()
        except aiohttp.ClientError as err:
            self._stream_broken(ctx, watch.fired, err)
            await out.write(self._sse_error(ctx))
        finally:
            watch.cancel()
        tail = guard.finish(watcher.tail())
        if tail:
            await out.write(tail)
        await out.write_eof()
        if not ctx.stream_done:  # else noted when `[DONE]` went by
            self._note_stream(ctx, watcher)
        if guard.stopped:
            ctx.finish_reason = FINISH_BLOCKED
        return out

    def _stream_broken(self, ctx: _Ctx, idle_fired: bool, err: Exception) -> None:
        if idle_fired:
            ctx.fail(
                504,
                errors.UPSTREAM_TIMEOUT,
                f"upstream silent for {self._timeouts.idle_s:g}s mid-stream",
            )
        else:
            ctx.fail(502, errors.UPSTREAM_PROTOCOL, f"upstream stream broken: {err}")
        ctx.http_status = 200  # the client already has its 200; the error event says the rest

    @staticmethod
    def _sse_error(ctx: _Ctx) -> bytes:
        body = errors.error_body(
            502 if ctx.error_type != errors.UPSTREAM_TIMEOUT else 504,
            ctx.error_message or "stream broken",
            ctx.error_type or "error",
        )
        return b"data: " + body + b"\n\n"

    @staticmethod
    def _note_stream(ctx: _Ctx, watcher: SSEWatcher) -> None:
        ctx.usage(watcher.usage)
        ctx.finish_reason = watcher.finish_reason
        ctx.response_model = watcher.response_model
        if watcher.error and ctx.status == STATUS_OK:
            msg = str(watcher.error.get("message", "error event in stream"))
            code = watcher.error.get("code")
            ctx.fail(ctx.http_status, str(code) if code else "stream_error", msg)
            ctx.http_status = 200

    # ---- everything else ----------------------------------------------------------------

    async def _passthrough(self, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
        if request.content_length and request.content_length > self._max_body:
            raise _Failure(413, errors.BODY_TOO_LARGE, f"request body over {self._max_body} bytes")
        data = await request.read() if request.body_exists else None
        url = self._up.url + request.rel_url.path_qs
        ctx.overhead_ns = _now() - ctx.start_ns
        resp = await self._open(
            request.method, ctx, url, self._upstream_headers(request, ctx), data
        )
        try:
            t = _now()
            ctx.http_status = resp.status
            if resp.status >= 400:
                ctx.fail(resp.status, str(resp.status), f"upstream answered {resp.status}")
            out = web.StreamResponse(status=resp.status, headers=self._response_headers(resp, ctx))
            ctx.overhead_ns += _now() - t
            out.headers[OVERHEAD_HEADER] = f"{ctx.overhead_ns / 1e6:.3f}"
            await out.prepare(request)
            watch = _IdleWatch(self._timeouts.idle_s, resp)
            try:
                async for chunk in resp.content.iter_any():
                    watch.touch()
                    await out.write(chunk)
            except aiohttp.ClientError as err:
                self._stream_broken(ctx, watch.fired, err)
            finally:
                watch.cancel()
            await out.write_eof()
            return out
        finally:
            resp.release()
