"""The measuring reverse proxy: OpenAI-compatible requests in, vLLM behind, one record out.

The request path does no I/O but the upstream call: metrics are in-memory observations
and the finished `RequestRecord` is put on a bounded queue without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web
from yarl import URL

from agent import errors
from agent.answer import fail, note_json, note_stream, note_usage
from agent.config import Settings
from agent.edge import EdgeError, canonical_path, check_headers, client_request_id, vllm_bool
from agent.errors import Refusal
from agent.ids import new_request_id, new_span_id, trace_ids
from agent.metrics import RequestMetrics
from agent.record import OP_EMBEDDINGS, OP_OTHER, STATUS_CANCELLED, STATUS_OK, RecordBuilder
from agent.recordpath import InFlight, RecordPath
from agent.routes import FORWARD, MEASURE, Route, Router
from agent.routing.router import Choice
from agent.routing.router import Router as UpstreamRouter
from agent.routing.shadow import Shadows
from agent.safety.engine import FINISH_BLOCKED, POLICY_CODE
from agent.safety.request import RequestSafety
from agent.safety.sse import SSEGuard
from agent.safety.stage import SafetyStage
from agent.server_inflight import settle_inflight
from agent.sse import SSEWatcher
from agent.tenancy import TenantResolver
from agent.upstream import Upstream

log = logging.getLogger("inferwatch.proxy")
_now = time.monotonic_ns

# Never forwarded in either direction: the hop-by-hop headers of RFC 9110 section 7.6.1
# (plus `Proxy-Connection`, which old clients still send), `Expect` (the agent answers
# `100 Continue` itself: forwarded, the upstream's interim 100 would be taken for the
# answer by a client that does not expect one), and what the agent sets itself.
_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Proxy-Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Expect",
        "Host",
        "Content-Length",
        "Accept-Encoding",
        "Content-Encoding",
    )
)
OVERHEAD_HEADER = "x-inferwatch-overhead-ms"
ROUTE_REFUSED = "route_refused"
REQUEST_TIMEOUT = "request_timeout"
MAX_MODEL_CHARS = 256
INTERNAL = "internal_error"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 pchar minus percent: kept as they are


def _strip_hop_by_hop(headers) -> dict[str, str]:
    """`headers` without hop-by-hop ones, including those named in `Connection` and
    `Proxy-Connection` (a client may declare any header hop-by-hop there)."""
    named = set(_HOP_BY_HOP)
    for h in ("Connection", "Proxy-Connection"):
        for value in headers.getall(h, ()):
            named.update(t.strip().lower() for t in value.split(","))
    return {k: v for k, v in headers.items() if k.lower() not in named}


class _Ctx:
    """One request being served: its record's builder, plus what only the proxy needs
    (the safety state of the inline checks, and how far the response got)."""

    __slots__ = ("rec", "request_id", "safety", "stream_done", "prepared", "route", "shadow")

    def __init__(self, rec: RecordBuilder, route: Choice) -> None:
        self.rec = rec
        self.request_id: str = rec.get("request_id")
        self.safety: RequestSafety | None = None
        self.stream_done = False  # `[DONE]` or every byte is written: a hang-up is no cancel
        self.prepared = False  # the status line went out: `http_status` is final
        self.route = route  # the upstream that serves it (and where a shadow copy goes)
        self.shadow: asyncio.Task | Callable[[], object] | None = (
            None  # its copy, or how to send it
        )

    @property
    def up(self) -> Upstream:
        return self.route.upstream

    def fail(self, status: int, err_type: str, message: str) -> None:
        fail(self.rec, status, err_type, message)

    def first_token(self) -> None:
        if self.rec.get("first_token_ns") is None:
            self.rec.set(first_token_ns=_now())

    def usage(self, usage: object) -> None:
        note_usage(self.rec, usage)

    def add_overhead(self, since_ns: int) -> str:
        """Count the agent's own time since `since_ns`; the overhead header's value."""
        total = self.rec.get("overhead_ns") + _now() - since_ns
        self.rec.set(overhead_ns=total)
        return f"{total / 1e6:.3f}"


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
        upstreams: UpstreamRouter,
        metrics: RequestMetrics,
        path: RecordPath,
        safety: SafetyStage | None = None,
        shadows: Shadows | None = None,
    ) -> None:
        """`upstreams` picks the upstream of each request (agent/routing); `path` takes
        every finished record (`agent.recordpath`); `safety`, when given, checks requests
        and answers inline (it is also a stage of `path`); `shadows` sends the copies of a
        shadow experiment."""
        self._s = settings
        self._upstreams = upstreams
        self._metrics = metrics
        self._path = path
        self._safety = safety
        self._shadows = shadows
        self._tenants = TenantResolver(settings.tenants)
        self._router = Router(settings.routes)
        self._own_auth = bool(settings.tenants.api_keys) or upstreams.authorizing
        self._timeouts = settings.upstream.timeouts
        self._max_body = settings.limits.max_body_bytes
        self._body_timeout = settings.limits.body_timeout_s
        self._max_answer = settings.upstream.max_response_bytes

    # ---- entry point --------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Every proxied request: cleaned and routed once on its canonical path, then
        measured (chat, completions, embeddings), forwarded (the passthrough allow-list)
        or refused. Each leaves one record whose status is what the client got."""
        ctx = self._begin(request)
        gauge = None
        try:
            route = self._admit(request, ctx)
            gauge = self._metrics.in_flight.labels(ctx.rec.get("operation"))
            gauge.inc()
            if route.kind == MEASURE:
                return await self._genai(request, ctx)
            if route.kind == FORWARD:
                return await self._passthrough(request, ctx)
            raise Refusal(route.status, ROUTE_REFUSED, route.reason)
        except Refusal as f:
            out = self._refuse(ctx, f.status, f.err_type, f.message, f.body)
            ctx.rec.set(error_message=f.detail or f.message)
            return out
        except web.HTTPException as exc:  # aiohttp's own answers, should a handler meet one
            err_type = errors.BODY_TOO_LARGE if exc.status == 413 else errors.BAD_REQUEST
            return self._refuse(ctx, exc.status, err_type, exc.reason, None)
        except (asyncio.CancelledError, ConnectionResetError):
            # Clients (the openai SDK) hang up once they read `[DONE]`, sometimes before the
            # upstream's last bytes reach the agent: such a stream was served in full.
            if not ctx.stream_done:
                self._drop_shadow(ctx)
                ctx.rec.set(
                    status=STATUS_CANCELLED,
                    error_type=errors.CANCELLED,
                    error_message="client disconnected",
                    http_status=499,  # nginx's code for 'client closed request'
                )
            raise
        except Exception as exc:
            return self._internal(ctx, exc)
        finally:
            if gauge is not None:
                gauge.dec()
            if callable(ctx.shadow) and ctx.rec.get("status") == STATUS_OK:
                ctx.shadow()  # `after`: the client has its whole answer; it never waits
            self._path.finish(ctx.rec.build(end_ns=_now()))  # the one hand-off

    @staticmethod
    def _drop_shadow(ctx: _Ctx) -> None:
        """The client hung up: its shadow copy is cancelled (or never sent)."""
        if isinstance(ctx.shadow, asyncio.Task):
            ctx.shadow.cancel()
        ctx.shadow = None

    # ---- shared frame -------------------------------------------------------------------

    def _begin(self, request: web.Request) -> _Ctx:
        """The request's record as far as known before any check, on the first upstream
        (`_admit` picks the real one once the tenant is known)."""
        trace_id, parent = trace_ids(request.headers.get("traceparent"))
        rec = RecordBuilder(
            start_ns=_now(),
            wall_time=time.time(),
            request_id=new_request_id(),  # always the agent's: unique, the document `_id`
            trace_id=trace_id,
            parent_span_id=parent,
            span_id=new_span_id(),
            tenant=self._s.tenants.default,
            operation=OP_OTHER,
            path=_printable(request.raw_path.partition("?")[0]),
            model="",
            stream=False,
        )
        return _Ctx(rec, self._upstreams.default)

    def _admit(self, request: web.Request, ctx: _Ctx) -> Route:
        """Edge checks, tenant and route; raises `EdgeError` to refuse the request."""
        path = canonical_path(request.raw_path.partition("?")[0])
        ctx.rec.set(path=path)
        check_headers(request.headers)
        ctx.rec.set(client_request_id=client_request_id(request.headers.get("x-request-id")))
        ctx.rec.set(tenant=self._tenants.resolve(request.headers))
        route = self._router.route(request.method, path)
        ctx.rec.set(operation=route.operation)
        up = self._upstreams
        tenant = ctx.rec.get("tenant")
        ctx.route = up.pick(up.sticky_key(request.headers, tenant, self._s.tenants.default))
        return route

    def _refuse(
        self, ctx: _Ctx, status: int, err_type: str, message: str, body: bytes | None
    ) -> web.Response:
        ctx.fail(status, err_type, message)
        headers = {"x-request-id": ctx.request_id}
        if body is not None:  # a ready error body (a safety block names its policy)
            return web.Response(
                status=status, body=body, content_type="application/json", headers=headers
            )
        return self._error(ctx, status, message, err_type)

    def _internal(self, ctx: _Ctx, exc: Exception) -> web.StreamResponse:
        """A fault of the agent itself: logged with its traceback, answered 500 when nothing
        was sent yet; the record says so either way."""
        log.exception("request failed inside the agent", extra={"request_id": ctx.request_id})
        sent = ctx.prepared
        ctx.fail(
            ctx.rec.get("http_status") if sent else 500,
            INTERNAL,
            f"{type(exc).__name__} in the agent",
        )
        if sent:
            raise exc  # the status line is out: aiohttp closes the connection
        return self._error(ctx, 500, "internal error in the agent", INTERNAL)

    def _error(self, ctx: _Ctx, status: int, message: str, err_type: str) -> web.Response:
        headers = {"x-request-id": ctx.request_id}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 503:
            headers["Retry-After"] = "5"
        return errors.error_response(status, message, err_type, headers)

    def _upstream_headers(
        self, request: web.Request, ctx: _Ctx, up: Upstream | None = None
    ) -> dict[str, str]:
        """The headers sent to `up` (the request's own upstream by default)."""
        up = up or ctx.up
        headers = _strip_hop_by_hop(request.headers)
        if self._own_auth:  # a tenant's key is for the agent: vLLM gets the agent's own
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if up.authorization is not None:
                headers["Authorization"] = up.authorization
        headers["x-request-id"] = ctx.request_id
        rec = ctx.rec
        headers["traceparent"] = f"00-{rec.get('trace_id')}-{rec.get('span_id')}-01"
        # Set here rather than through the session's `skip_auto_headers`, which makes aiohttp
        # build and merge a header multidict on every request (measured 10 us a request).
        headers["Accept-Encoding"] = "identity"
        return headers

    def _response_headers(self, resp: aiohttp.ClientResponse, ctx: _Ctx) -> dict[str, str]:
        headers = _strip_hop_by_hop(resp.headers)
        # A value that is not UTF-8 text cannot be written back out: dropped, not a 500.
        headers = {k: v for k, v in headers.items() if v.isprintable()}
        headers["x-request-id"] = ctx.request_id
        return headers

    @staticmethod
    def _url(up: Upstream, path: str, query: str = "") -> URL:
        """The URL of a canonical path on `up`, sent as built (no re-normalising)."""
        url = up.url + quote(path, safe=_PATH_SAFE)
        return URL(url + ("?" + query if query else ""), encoded=True)

    async def _open(
        self, method: str, ctx: _Ctx, url: URL, headers, data
    ) -> aiohttp.ClientResponse:
        """Send the request upstream and wait for its headers, mapping failures to 502/504.
        Redirects are the client's business: followed here, a redirect could lead a
        measured request to an unmeasured route or the agent to another host."""
        # From here the request is its upstream's: refused before (bad JSON, a route or a
        # safety block), it is in no arm, or a client could push errors onto a variant.
        ctx.rec.set(experiment=ctx.route.experiment, variant=ctx.route.name)
        if ctx.up.state.starting:  # the supervisor (serving) is (re)starting vLLM
            raise Refusal(
                503,
                errors.UPSTREAM_STARTING,
                "the model server is starting or restarting; retry shortly",
            )
        try:
            async with asyncio.timeout(self._timeouts.first_byte_s):
                resp = await ctx.up.session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                )
        except aiohttp.ConnectionTimeoutError:
            # Checked first: aiohttp's connect timeout is also a TimeoutError.
            ctx.up.mark(False, "connect timeout")
            raise Refusal(
                504, errors.UPSTREAM_TIMEOUT, "timed out connecting to the upstream"
            ) from None
        except TimeoutError:
            raise Refusal(
                504,
                errors.UPSTREAM_TIMEOUT,
                f"upstream sent no response within {self._timeouts.first_byte_s:g}s",
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as err:
            ctx.up.mark(False, str(err) or type(err).__name__)
            raise Refusal(
                502,
                errors.UPSTREAM_UNAVAILABLE,
                "upstream unavailable",
                detail=f"upstream unavailable: {err}",
            ) from None
        except aiohttp.ClientError as err:  # a response aiohttp refused: too many headers...
            raise Refusal(
                502,
                errors.UPSTREAM_PROTOCOL,
                "upstream response refused (malformed or oversized headers)",
                detail=f"upstream response refused: {err}",
            ) from None
        if ctx.up.state.up is not True:
            ctx.up.mark(True)
        return resp

    # ---- the generative endpoints --------------------------------------------------------

    async def _read_json(self, request: web.Request) -> tuple[dict, int]:
        """The request's JSON object and its size in bytes; 400/413/415 otherwise."""
        ctype = request.headers.get("Content-Type", "")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            raise Refusal(
                415, errors.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json"
            )
        raw = await self._read_body(request)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise Refusal(400, errors.BAD_REQUEST, f"malformed JSON body: {err}") from None
        if not isinstance(body, dict):
            raise Refusal(400, errors.BAD_REQUEST, "JSON body must be an object")
        return body, len(raw)

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole request body: 413 past `max_body_bytes`, 408 when the client sends
        nothing for `body_timeout_s` (a stalled upload would hold its bytes in flight)."""
        too_big = Refusal(413, errors.BODY_TOO_LARGE, f"request body over {self._max_body} bytes")
        if request.content_length is not None and request.content_length > self._max_body:
            raise too_big
        parts: list[bytes] = []
        size, content = 0, request.content
        while True:
            try:
                async with asyncio.timeout(self._body_timeout):
                    chunk = await content.readany()
            except TimeoutError:
                msg = f"no request body bytes for {self._body_timeout:g}s"
                raise Refusal(408, REQUEST_TIMEOUT, msg) from None
            if not chunk:
                settle_inflight(request, size)  # a chunked body reserved the most it could be
                return b"".join(parts)
            size += len(chunk)
            if size > self._max_body:
                raise too_big
            parts.append(chunk)

    async def _genai(self, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
        body, size = await self._read_json(request)
        rec = ctx.rec
        rec.set(model=_model_name(body.get("model")))
        # vLLM takes `"stream": 1` or `"yes"` for true (pydantic's lax bool): the agent must
        # decide as vLLM will, or a stream would pass as a JSON answer, unscanned and
        # unmetered. The canonical bool is what goes upstream.
        if "stream" in body:
            body["stream"] = _lax_bool("stream", body["stream"])
        stream = body.get("stream") is True and rec.get("operation") != OP_EMBEDDINGS
        rec.set(stream=stream)
        await self._check_request(ctx, body, size)
        client_wants_usage = True
        if stream:
            opts = body.get("stream_options")
            opts = opts if isinstance(opts, dict) else {}
            wants = opts.get("include_usage")
            client_wants_usage = wants is not None and _lax_bool("include_usage", wants)
            if not client_wants_usage:
                body["stream_options"] = {**opts, "include_usage": True}
        data = orjson.dumps(body)
        headers = self._upstream_headers(request, ctx)
        headers["Content-Type"] = "application/json"
        start_ns = rec.get("start_ns")
        self._path.begin(
            InFlight(
                ctx.request_id,
                start_ns,
                rec.get("tenant"),
                rec.get("model"),
                stream,
                self._upstreams.metered(ctx.route.name),
            )
        )
        rec.set(overhead_ns=_now() - start_ns)
        url = self._url(ctx.up, rec.get("path"))
        self._shadow(request, ctx, data)
        resp = await self._open("POST", ctx, url, headers, data)
        try:
            if resp.content_type == "text/event-stream":  # scanned and metered, asked or not
                rec.set(stream=True)
                return await self._relay_sse(request, ctx, resp, drop_usage=not client_wants_usage)
            return await self._relay_json(ctx, resp)
        finally:
            # An unfinished body means we gave up on it: close the connection so that
            # vLLM sees the hang-up and aborts the request instead of generating on.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    def _shadow(self, request: web.Request, ctx: _Ctx, data: bytes) -> None:
        """Send the copy of a shadowed request now (`parallel`), or arrange to once the
        client has its answer (`after`). The copy carries the redacted body."""
        route, shadows = ctx.route, self._shadows
        if route.shadow is None or shadows is None or route.shadow_name is None:
            return
        up, name = route.shadow, route.shadow_name
        headers = self._upstream_headers(request, ctx, up)
        headers["Content-Type"] = "application/json"
        url = self._url(up, ctx.rec.get("path"))
        rec = ctx.rec

        def send() -> asyncio.Task | None:
            return shadows.launch(rec, up, name, url, headers, data, self._upstreams.metered(name))

        ctx.shadow = send() if shadows.parallel else send

    async def _check_request(self, ctx: _Ctx, body: dict, size: int) -> None:
        """Safety filters on the request: redacts `body` in place, or refuses it (400).
        A big body is scanned on the scan thread, so it cannot stall other requests."""
        if self._safety is None:
            return
        ctx.safety = self._safety.request(ctx.rec.get("operation"), ctx.request_id)
        if ctx.safety is None:
            return
        block = await ctx.safety.check_request_async(body, size)
        if block is not None:
            raise Refusal(400, POLICY_CODE, block.message, orjson.dumps(block.error()))

    async def _read_answer(self, resp: aiohttp.ClientResponse) -> bytes:
        """A non-streamed answer, whole: held in memory, so bounded (a hostile or broken
        upstream could otherwise fill the agent's memory before the idle limit)."""
        cap = self._max_answer
        too_big = Refusal(502, errors.UPSTREAM_PROTOCOL, f"upstream answer over {cap} bytes")
        if resp.content_length is not None and resp.content_length > cap:
            raise too_big
        parts, size = [], 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise too_big
            parts.append(chunk)
        return b"".join(parts)

    async def _relay_json(self, ctx: _Ctx, resp: aiohttp.ClientResponse) -> web.Response:
        try:
            async with asyncio.timeout(self._timeouts.idle_s):
                payload = await self._read_answer(resp)
        except TimeoutError:
            raise Refusal(
                504, errors.UPSTREAM_TIMEOUT, "upstream stalled sending its response"
            ) from None
        except aiohttp.ClientError as err:
            raise Refusal(
                502,
                errors.UPSTREAM_PROTOCOL,
                "upstream response broken",
                detail=f"upstream response broken: {err}",
            ) from None
        t = _now()
        # Non-streaming: the first token reaches the client with the rest.
        ctx.rec.set(first_token_ns=t, http_status=resp.status)
        if resp.status >= 400:
            ctx.fail(resp.status, str(resp.status), payload[:512].decode("utf-8", "replace"))
        elif resp.content_type == "application/json":
            if ctx.safety is not None:
                payload = await ctx.safety.check_response_async(payload)
            note_json(ctx.rec, payload)
        headers = self._response_headers(resp, ctx)
        headers[OVERHEAD_HEADER] = ctx.add_overhead(t)
        return web.Response(status=resp.status, body=payload, headers=headers)

    async def _relay_sse(
        self, request: web.Request, ctx: _Ctx, resp: aiohttp.ClientResponse, drop_usage: bool
    ) -> web.StreamResponse:
        watcher = SSEWatcher(drop_usage, ctx.first_token)
        guard = SSEGuard(ctx.safety)
        content = resp.content
        # The client's headers wait for the first upstream bytes, so a stall before any
        # byte is still a clean 504 rather than a 200 that never ends.
        try:
            async with asyncio.timeout(self._timeouts.first_byte_s):
                first = await content.readany()
        except TimeoutError:
            raise Refusal(
                504, errors.UPSTREAM_TIMEOUT, "upstream sent headers but no data"
            ) from None
        t = _now()
        out = web.StreamResponse(status=resp.status, headers=self._response_headers(resp, ctx))
        ctx.rec.set(http_status=resp.status)
        out.headers[OVERHEAD_HEADER] = ctx.add_overhead(t)
        ctx.prepared = True
        await out.prepare(request)
        watch = _IdleWatch(self._timeouts.idle_s, resp)
        try:
            chunk = first
            while chunk:
                piece = guard.pass_on(watcher.feed(chunk))
                if piece:
                    await out.write(piece)
                if watcher.done and not ctx.stream_done:
                    note_stream(ctx.rec, watcher)  # all it says came before `[DONE]`
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
        if not ctx.stream_done:  # else noted when `[DONE]` went by
            note_stream(ctx.rec, watcher)
            # Every byte of the answer is written: a client that reads to the end and hangs
            # up while the body's last chunk drains (a reset in write_eof) got all of it.
            ctx.stream_done = True
        await out.write_eof()
        if guard.stopped:
            ctx.rec.set(finish_reason=FINISH_BLOCKED)
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
        ctx.rec.set(
            http_status=200
        )  # the client already has its 200; the error event says the rest

    @staticmethod
    def _sse_error(ctx: _Ctx) -> bytes:
        body = errors.error_body(
            502 if ctx.rec.get("error_type") != errors.UPSTREAM_TIMEOUT else 504,
            ctx.rec.get("error_message") or "stream broken",
            ctx.rec.get("error_type") or "error",
        )
        return b"data: " + body + b"\n\n"

    # ---- everything else ----------------------------------------------------------------

    async def _passthrough(self, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
        data = await self._read_body(request) if request.body_exists else None
        query = request.raw_path.partition("?")[2]
        if not query.isprintable():
            raise EdgeError(400, errors.BAD_REQUEST, "query must be printable text")
        url = self._url(ctx.up, ctx.rec.get("path"), query)
        ctx.rec.set(overhead_ns=_now() - ctx.rec.get("start_ns"))
        resp = await self._open(
            request.method, ctx, url, self._upstream_headers(request, ctx), data
        )
        try:
            t = _now()
            ctx.rec.set(http_status=resp.status)
            if resp.status >= 400:
                ctx.fail(resp.status, str(resp.status), f"upstream answered {resp.status}")
            out = web.StreamResponse(status=resp.status, headers=self._response_headers(resp, ctx))
            out.headers[OVERHEAD_HEADER] = ctx.add_overhead(t)
            ctx.prepared = True
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


def _printable(text: str, limit: int = 512) -> str:
    """`text` safe to keep and encode anywhere (a raw path before it was checked)."""
    text = text[:limit]
    return text if text.isprintable() else text.encode("utf-8", "backslashreplace").decode()


def _lax_bool(name: str, value: object) -> bool:
    """A boolean field as vLLM's pydantic models read it (lax mode), else a 400."""
    try:
        return vllm_bool(value)
    except ValueError:
        raise Refusal(400, errors.BAD_REQUEST, f"{name} must be a boolean") from None


def _model_name(value: object) -> str:
    """The requested model: it becomes a metric label, so short printable text or a 400."""
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_MODEL_CHARS or not value.isprintable():
        raise Refusal(
            400,
            errors.BAD_REQUEST,
            f"model must be at most {MAX_MODEL_CHARS} printable characters",
        )
    return value
