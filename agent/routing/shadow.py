"""Shadow copies: a share of the control's requests is sent to the variant too; its
answer is measured, filtered and recorded like any other (the record names the request
it copied in `shadow_of`), then dropped. The client never waits for it and never sees
it: a copy runs as its own task, bounded in number (`shadow.max_in_flight`), with the
upstream timeouts of any request, and is cancelled if the client hangs up first."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from yarl import URL

from agent import errors
from agent.answer import fail, note_json, note_stream
from agent.config import Settings
from agent.ids import new_request_id, new_span_id
from agent.record import STATUS_CANCELLED, STATUS_OK, RecordBuilder
from agent.recordpath import InFlight, RecordPath
from agent.routing.config import ExperimentConfig
from agent.routing.loopbusy import LoopBusy
from agent.safety.request import RequestSafety
from agent.safety.stage import SafetyStage
from agent.sse import SSEWatcher
from agent.upstream import Upstream

log = logging.getLogger("inferwatch.shadow")
_now = time.monotonic_ns
OK, ERROR, SKIPPED, SHED, CANCELLED = "ok", "error", "skipped", "shed", "cancelled"
# The tenant a copy's hardware time is shared out to: the machine did the work (the costs
# still add up to what it cost), but no client asked for it, so no tenant's spend or
# budget carries it. Not a name a tenant can have (names are checked).
SHADOW_TENANT = "(shadow)"
# The primary's facts a copy shares (its own id, span and times are new).
_SHARED = ("trace_id", "tenant", "model", "operation", "path", "stream", "client_request_id")


class Shadows:
    """Sends the copies of one shadow experiment and hands their records to the path."""

    def __init__(
        self,
        experiment: ExperimentConfig,
        settings: Settings,
        path: RecordPath,
        safety: SafetyStage | None,
        instruments: dict,
        busy: LoopBusy | None = None,
    ) -> None:
        """`busy` tells how busy the event loop is (copies are shed past
        `shadow.max_loop_busy`; None: never)."""
        self._exp = experiment
        self._busy = busy
        self.parallel = experiment.shadow.mode == "parallel"
        self._timeouts = settings.upstream.timeouts
        self._max_answer = settings.upstream.max_response_bytes
        self._path, self._safety = path, safety
        self._outcomes = instruments["inferwatch_experiment_shadow_requests_total"]
        self._tasks: set[asyncio.Task] = set()

    def launch(
        self,
        primary: RecordBuilder,
        up: Upstream,
        name: str,
        url: URL,
        headers: dict,
        data: bytes,
        metered: bool = True,
    ) -> asyncio.Task | None:
        """Start a copy of `primary`'s request to `up` (None when too many are in flight:
        the copy is skipped and counted, so a slow shadow cannot pile up memory)."""
        if len(self._tasks) >= self._exp.shadow.max_in_flight:
            self._count(SKIPPED)
            return None
        if self._busy is not None and self._busy.ratio > self._exp.shadow.max_loop_busy:
            self._count(SHED)  # the agent is the bottleneck: the clients' requests first
            return None
        rec = RecordBuilder(
            start_ns=_now(),
            wall_time=time.time(),
            request_id=new_request_id(),
            span_id=new_span_id(),
            parent_span_id=primary.get("span_id"),
            experiment=self._exp.name,
            variant=name,
            shadow_of=primary.get("request_id"),
            **{k: primary.get(k) for k in _SHARED},
        )
        rid = rec.get("request_id")
        headers = {**headers, "x-request-id": rid}
        headers["traceparent"] = f"00-{rec.get('trace_id')}-{rec.get('span_id')}-01"
        # Begun here, not in the task: a task cancelled before its first step never runs
        # its body, and its record must still be finished (see `_settle`).
        start, model = rec.get("start_ns"), rec.get("model")
        self._path.begin(InFlight(rid, start, SHADOW_TENANT, model, rec.get("stream"), metered))
        task = asyncio.create_task(self._run(rec, up, url, headers, data), name="shadow")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._settle(t, rec))
        return task

    def _settle(self, task: asyncio.Task, rec: RecordBuilder) -> None:
        """A copy's task ended: finish its record if its body never ran (cancelled first)."""
        self._tasks.discard(task)
        if task.cancelled() and rec.get("end_ns") is None:
            self._cancelled(rec)
            self._count(CANCELLED)
            self._path.finish(rec.build(end_ns=_now()))

    async def start(self) -> None:
        """Start watching the loop's load."""
        if self._busy is not None:
            await self._busy.start()

    async def stop(self) -> None:
        """Cancel the copies still running (their records say cancelled)."""
        if self._busy is not None:
            await self._busy.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _count(self, outcome: str) -> None:
        self._outcomes.labels(self._exp.name, outcome).inc()

    @staticmethod
    def _cancelled(rec: RecordBuilder) -> None:
        rec.set(status=STATUS_CANCELLED, http_status=499, error_type=errors.CANCELLED)
        rec.set(error_message="the client hung up (or the agent stopped): shadow copy cancelled")

    async def _run(
        self, rec: RecordBuilder, up: Upstream, url: URL, headers: dict, data: bytes
    ) -> None:
        rid = rec.get("request_id")
        # The body the primary sent is already checked and redacted: only the answer is
        # scanned (`state.body` stays unset).
        safety = self._safety.request(rec.get("operation"), rid) if self._safety else None
        outcome = ERROR
        try:
            # A whole-copy deadline besides the per-chunk idle limit: an upstream trickling a
            # byte now and then would otherwise hold a slot of `max_in_flight` for ever.
            async with asyncio.timeout(self._exp.shadow.timeout_s):
                await self._send(rec, up, url, headers, data, safety)
            outcome = OK if rec.get("status") == STATUS_OK else ERROR
        except asyncio.CancelledError:
            outcome = CANCELLED
            self._cancelled(rec)
            raise
        except TimeoutError:
            fail(rec, 504, errors.UPSTREAM_TIMEOUT, "shadow upstream timed out")
        except (aiohttp.ClientError, OSError) as err:
            up.mark(False, str(err) or type(err).__name__)
            fail(rec, 502, errors.UPSTREAM_UNAVAILABLE, f"shadow upstream unavailable: {err}")
        except Exception as err:  # a fault of ours must not escape a background task unseen
            log.exception("shadow copy failed inside the agent", extra={"request_id": rid})
            fail(rec, 500, "internal_error", f"{type(err).__name__} in the agent")
        finally:
            self._count(outcome)
            self._path.finish(rec.build(end_ns=_now()))  # sets end_ns: `_settle` leaves it

    async def _send(
        self,
        rec: RecordBuilder,
        up: Upstream,
        url: URL,
        headers: dict,
        data: bytes,
        safety: RequestSafety | None,
    ) -> None:
        async with asyncio.timeout(self._timeouts.first_byte_s):
            resp = await up.session.request(
                "POST", url, headers=headers, data=data, allow_redirects=False
            )
        async with resp:
            if up.state.up is not True:
                up.mark(True)
            rec.set(http_status=resp.status)
            if resp.content_type == "text/event-stream":
                rec.set(stream=True)
                await self._read_stream(rec, resp, safety)
            else:
                await self._read_json(rec, resp, safety)

    async def _read_json(
        self, rec: RecordBuilder, resp: aiohttp.ClientResponse, safety: RequestSafety | None
    ) -> None:
        parts, size = [], 0
        async with asyncio.timeout(self._timeouts.idle_s):
            async for chunk in resp.content.iter_any():
                size += len(chunk)
                if size > self._max_answer:
                    fail(rec, 502, errors.UPSTREAM_PROTOCOL, "shadow answer too large")
                    return
                parts.append(chunk)
        payload = b"".join(parts)
        rec.set(first_token_ns=_now())
        if resp.status >= 400:
            fail(rec, resp.status, str(resp.status), payload[:512].decode("utf-8", "replace"))
            return
        if safety is not None:
            safety.keep_output(payload)  # scanned off the loop: nobody reads this answer
        note_json(rec, payload)

    async def _read_stream(
        self, rec: RecordBuilder, resp: aiohttp.ClientResponse, safety: RequestSafety | None
    ) -> None:
        def first_token() -> None:
            if rec.get("first_token_ns") is None:
                rec.set(first_token_ns=_now())

        # No inline filter: no client reads this stream, so nothing is rewritten or stopped;
        # the answer is kept (bounded) for the safety stage, which scans it on its thread.
        # That keeps the copy's cost on the event loop to reading and noting it.
        watcher = SSEWatcher(False, first_token)
        while True:
            async with asyncio.timeout(self._timeouts.idle_s):
                chunk = await resp.content.readany()
            if not chunk:
                break
            piece = watcher.feed(chunk)
            if safety is not None:
                safety.keep_output(piece)
        if safety is not None:
            safety.keep_output(watcher.tail())
        note_stream(rec, watcher)
