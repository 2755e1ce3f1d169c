"""The Elasticsearch shipper: a background task draining the store's outbox.

It reads unshipped complete rows (cost final or lost, never pending) in `ship_seq` order (on its own I/O thread), turns them into ECS
documents and sends them with `async_streaming_bulk` as `create` operations with
`_id` = request id, so a document sent twice is stored once (the second answers 409).
A row is marked shipped only once Elasticsearch has acknowledged it; 429, 5xx and
connection failures are retried with capped exponential backoff, for as long as the
outage lasts. A document goes to the store's dead-letter table (logged, counted, not
retried) when the server rejects it as malformed, when it alone is still too large for a
proxy's body limit (a 413 splits the batch in halves first), when its `_id` is taken by
another document (a 409 whose stored document is not ours), or after
`max_attempts` answers about it that were errors (outages and back-pressure do not count).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
from elasticsearch import ApiError, AsyncElasticsearch, ConnectionTimeout, TransportError
from elasticsearch.helpers import async_streaming_bulk

from agent.shipping.client import make_client
from agent.shipping.config import ElasticsearchConfig
from agent.shipping.ecs import DocContext, to_document
from agent.shipping.outbox import Outbox
from agent.shipping.outcome import (
    CONFLICT,
    REJECT,
    RETRY,
    SPLIT,
    DeadLetter,
    Doc,
    Sorted,
    classify,
    counts_as_attempt,
    reason,
)
from agent.shipping.stats import ShipStats
from agent.shipping.template import SetupReport, setup
from agent.store.rejects import clean as _clean
from agent.store.rows import StoredRecord


def safe_text(text: str) -> str:
    """`text` storable and loggable (lone surrogates escaped)."""
    return str(_clean(text))


log = logging.getLogger("inferwatch.shipping")

_STATUS_EVERY_S = 2.0


class Shipper:
    """Ships the outbox to Elasticsearch until stopped. One bulk request at a time."""

    def __init__(
        self, config: ElasticsearchConfig, outbox: Outbox, stats: ShipStats, ctx: DocContext
    ) -> None:
        self._c = config
        self._outbox = outbox
        self._stats = stats
        self._ctx = ctx
        self._io_pool = ThreadPoolExecutor(1, thread_name_prefix="shipper-io")
        self._es: AsyncElasticsearch | None = None  # from `start`
        self._tasks: list[asyncio.Task] = []
        self._cursor = 0
        self._rewind = False
        self.setup_report: SetupReport | None = None

    async def start(self) -> None:
        """Create the client and start the shipping and status tasks."""
        self._es = make_client(self._c)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="es-shipper"),
            loop.create_task(self._status_loop(), name="es-shipper-status"),
        ]

    async def stop(self) -> None:
        """Stop shipping (unshipped rows stay in the outbox) and release the client."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._es is not None:
            await self._es.close()
        await self._io(self._outbox.close)
        self._io_pool.shutdown(wait=True)

    def _client(self) -> AsyncElasticsearch:
        if self._es is None:
            raise RuntimeError("the shipper is not started")
        return self._es

    async def _io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._io_pool, fn, *args)

    # ---- the loop -------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:  # a bug must not end shipping silently: log it, back off, go on
            try:
                await self._ship_forever()
            except Exception:
                log.exception("shipper failed; restarting it")
                self._stats.failed("other")
                self._rewind = True
                await self._backoff(attempt)
                attempt += 1

    async def _ship_forever(self) -> None:
        if self._c.setup_on_start and self.setup_report is None:
            await self._setup()
        ahead = asyncio.ensure_future(self._io(self._next_batch))
        try:
            while True:
                items = await ahead
                if not items:
                    await asyncio.sleep(self._c.idle_poll_s)
                # Read and convert the next batch while this one is on the wire.
                ahead = asyncio.ensure_future(self._io(self._next_batch))
                if items:
                    await self._ship(items)
        finally:
            ahead.cancel()

    async def _setup(self) -> None:
        attempt = 0
        while True:
            try:
                self.setup_report = await setup(self._client(), self._c)
                return
            except TransportError as err:
                log.warning(
                    "Elasticsearch unreachable for setup; retrying", extra={"error": str(err)}
                )
                self._stats.failed(_transport_kind(err))
                await self._backoff(attempt)
                attempt += 1

    def _next_batch(self) -> list[Doc]:
        """Runs on the I/O thread: read and convert the next rows after the cursor."""
        if self._rewind:  # a mark was lost: re-read; re-sent documents answer 409
            self._cursor, self._rewind = 0, False
        rows = self._outbox.fetch(self._cursor, self._c.batch_size)
        if rows:
            self._cursor = rows[-1][1]
        docs, bad = [], []
        for row_id, _seq, request_id, text, cost_status in rows:
            try:
                docs.append(self._doc(row_id, request_id, text, cost_status))
            except Exception as err:  # a row this version cannot read: keep it, say so
                error = safe_text(f"{type(err).__name__}: {err}")[:500]
                bad.append(DeadLetter(row_id, request_id, "unconvertible", error, 0, text))
        if bad:
            log.error("store rows cannot be made into documents", extra={"rows": len(bad)})
            self._stats.failed("unconvertible", len(bad))
            self._stats.dead_letters("unconvertible", len(bad))
            self._outbox.mark((), bad)
        return docs

    def _doc(self, row_id: int, request_id: str, text: str, cost_status: str) -> Doc:
        record = StoredRecord(text)
        source = orjson.dumps(to_document(record, self._ctx, cost_status))
        # `_id`: the row's request id, the agent's own and unique in the store.
        action = {
            "_op_type": "create",
            "_index": self._c.data_stream,
            "_id": request_id,
            "_source": source,
        }
        return Doc(row_id, request_id, getattr(record, "span_id", None), action)

    async def _ship(self, docs: list[Doc]) -> None:
        attempt = 0
        while docs:
            out = await self._attempt(docs)
            if out.too_large:
                await self._split(out)
            if out.conflicts:
                await self._check_conflicts(out)
            self._give_up(out)
            await self._mark(out)
            docs = out.retry
            if docs:
                await self._backoff(attempt)
                attempt += 1

    async def _split(self, out: Sorted) -> None:
        """A 413 refused the whole request: ship each half on its own (recursively); a
        single document still refused is dead-lettered."""
        docs, out.too_large = out.too_large, []
        if len(docs) == 1:
            out.dead.append(_dead(docs[0], "too_large", "413: refused on its own"))
            return
        log.warning("bulk request too large (413); splitting it", extra={"docs": len(docs)})
        half = len(docs) // 2
        for part in (docs[:half], docs[half:]):
            await self._ship(part)

    async def _check_conflicts(self, out: Sorted) -> None:
        """409s: a document with our `_id` is there. Ours (same span id: an earlier try
        whose answer was lost) is shipped; another one is a collision, dead-lettered. Read
        from the concrete index the 409 named (real-time, also inside a data stream)."""
        docs, out.conflicts = out.conflicts, []
        try:
            resp = await self._client().mget(
                docs=[{"_index": d.index, "_id": d.request_id} for d in docs]
            )
            found = resp["docs"]
        except (TransportError, ApiError) as err:
            log.warning("could not read back 409 documents; will retry", extra={"error": str(err)})
            out.retry += docs
            return
        for d, got in zip(docs, found, strict=True):
            span = ((got.get("_source") or {}).get("span") or {}).get("id")
            if got.get("found") and span == d.span_id:
                out.shipped.append(d.row_id)
                out.duplicates += 1
            elif got.get("found"):
                out.dead.append(_dead(d, "id_collision", f"_id held by span {span}"))
            else:  # a 409 and then nothing there: try again, as an attempt
                d.attempts, d.error = d.attempts + 1, "409 but no document found"
                out.retry.append(d)

    def _give_up(self, out: Sorted) -> None:
        """Retried documents past `max_attempts` go to the dead-letter table."""
        keep = []
        for d in out.retry:
            if d.attempts >= self._c.max_attempts:
                out.dead.append(_dead(d, "max_attempts", d.error))
            else:
                keep.append(d)
        out.retry = keep

    async def _attempt(self, docs: list[Doc]) -> Sorted:
        try:
            results = [r async for r in self._bulk([d.action for d in docs])]
        except TransportError as err:
            kind = _transport_kind(err)
            log.warning(
                "bulk request failed; will retry", extra={"error_type": kind, "docs": len(docs)}
            )
            return Sorted(retry=docs, failures={kind: len(docs)})
        return _sort(docs, results)

    def _bulk(self, actions: list[dict]):
        return async_streaming_bulk(
            self._client(),
            actions,
            chunk_size=len(actions),
            max_chunk_bytes=100 * 1024 * 1024,
            raise_on_error=False,
            raise_on_exception=False,
            max_retries=0,
            yield_ok=True,
        )

    async def _mark(self, out: Sorted) -> None:
        for kind, n in out.failures.items():
            self._stats.failed(kind, n)
        self._stats.shipped("created", len(out.shipped) - out.duplicates)
        self._stats.shipped("duplicate", out.duplicates)
        for d in out.dead:
            self._stats.dead_letters(d.reason)
            log.warning(
                "document dead-lettered; kept in the store, not retried",
                extra={"request_id": d.request_id, "reason": d.reason, "error": d.error},
            )
        if not out.shipped and not out.dead:
            return
        try:
            await asyncio.wrap_future(self._outbox.mark(out.shipped, out.dead))
        except Exception as err:
            log.error(
                "could not mark shipped rows; they will be re-sent", extra={"error": str(err)}
            )
            self._rewind = True

    async def _backoff(self, attempt: int) -> None:
        delay = min(self._c.backoff_max_s, self._c.backoff_initial_s * 2 ** min(attempt, 20))
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: no thundering herd

    async def _status_loop(self) -> None:
        while True:
            try:
                oldest = await self._io(self._outbox.oldest_wall_time)
                backlog = await self._io(self._outbox.backlog)
                self._stats.status(max(0.0, time.time() - oldest) if oldest else 0.0, backlog)
            except Exception as err:  # e.g. the database briefly locked: try again later
                log.warning("shipper status query failed", extra={"error": str(err)})
            await asyncio.sleep(_STATUS_EVERY_S)


def _transport_kind(err: TransportError) -> str:
    return "timeout" if isinstance(err, ConnectionTimeout) else "connection"


def _dead(d: Doc, why: str, error: str) -> DeadLetter:
    source = d.action["_source"]
    text = source.decode() if isinstance(source, bytes) else safe_text(str(source))
    return DeadLetter(d.row_id, d.request_id, why, error[:500], d.attempts, text)


def _sort(docs: list[Doc], results: list[tuple[bool, dict]]) -> Sorted:
    out = Sorted()
    for i, d in enumerate(docs):
        if i >= len(results):  # no answer for it: try again
            out.retry.append(d)
            continue
        ok, info = results[i]
        item = next(iter(info.values()))
        decision, kind = classify(ok, item)
        if decision == RETRY:
            if counts_as_attempt(kind, item):
                d.attempts, d.error = d.attempts + 1, f"{kind}: {reason(item)}"
            out.retry.append(d)
            out.fail(kind)
        elif decision == REJECT:
            out.dead.append(_dead(d, kind, reason(item)))
            out.fail(kind)
            log.warning(
                "Elasticsearch rejected a document; kept in the store, not retried",
                extra={"request_id": d.request_id, "reason": reason(item)},
            )
        elif decision == CONFLICT:
            d.index = item.get("_index") or d.action["_index"]
            out.conflicts.append(d)
        elif decision == SPLIT:
            out.too_large.append(d)
            out.fail(kind)
        else:
            out.shipped.append(d.row_id)
    return out
