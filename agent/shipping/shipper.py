"""The Elasticsearch shipper: a background task draining the store's outbox.

It reads unshipped complete rows (cost final or lost, never pending) in `ship_seq` order (on its own I/O thread), turns them into ECS
documents and sends them with `async_streaming_bulk` as `create` operations with
`_id` = request id, so a document sent twice is stored once (the second answers 409).
A row is marked shipped only once Elasticsearch has acknowledged it; 429, 5xx and
connection failures are retried with capped exponential backoff, for as long as the
outage lasts; a document the server rejects as malformed is marked rejected (kept in
the store, logged, counted) and not retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
from elasticsearch import ConnectionTimeout, TransportError
from elasticsearch.helpers import async_streaming_bulk

from agent.shipping.client import make_client
from agent.shipping.config import ElasticsearchConfig
from agent.shipping.ecs import DocContext, to_document
from agent.shipping.outcome import REJECT, RETRY, Sorted, classify, reason
from agent.shipping.stats import ShipStats
from agent.shipping.template import SetupReport, setup
from agent.store.outbox import Outbox
from agent.store.rows import StoredRecord

log = logging.getLogger("inferwatch.shipping")

_STATUS_EVERY_S = 2.0
Item = tuple[int, dict]  # (store row id, bulk action)


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
        self._es = None
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
                self.setup_report = await setup(self._es, self._c)
                return
            except TransportError as err:
                log.warning(
                    "Elasticsearch unreachable for setup; retrying", extra={"error": str(err)}
                )
                self._stats.failed(_transport_kind(err))
                await self._backoff(attempt)
                attempt += 1

    def _next_batch(self) -> list[Item]:
        """Runs on the I/O thread: read and convert the next rows after the cursor."""
        if self._rewind:  # a mark was lost: re-read; re-sent documents answer 409
            self._cursor, self._rewind = 0, False
        rows = self._outbox.fetch(self._cursor, self._c.batch_size)
        if rows:
            self._cursor = rows[-1][1]
        items, bad = [], []
        for row_id, _seq, text, cost_status in rows:
            try:
                items.append((row_id, self._action(text, cost_status)))
            except Exception as err:  # a row this version cannot read: keep it, say so
                bad.append((row_id, f"unconvertible: {err}"[:500]))
        if bad:
            log.error("store rows cannot be made into documents", extra={"rows": len(bad)})
            self._stats.failed("unconvertible", len(bad))
            self._outbox.mark((), bad)
        return items

    def _action(self, text: str, cost_status: str) -> dict:
        record = StoredRecord(text)
        doc = orjson.dumps(to_document(record, self._ctx, cost_status))
        return {
            "_op_type": "create",
            "_index": self._c.data_stream,
            "_id": record.request_id,
            "_source": doc,
        }

    async def _ship(self, items: list[Item]) -> None:
        attempt = 0
        while items:
            outcome = await self._attempt(items)
            await self._mark(outcome)
            items = outcome.retry
            if items:
                await self._backoff(attempt)
                attempt += 1

    async def _attempt(self, items: list[Item]) -> Sorted:
        try:
            results = [r async for r in self._bulk([a for _, a in items])]
        except TransportError as err:
            kind = _transport_kind(err)
            log.warning(
                "bulk request failed; will retry", extra={"error_type": kind, "docs": len(items)}
            )
            return Sorted(retry=items, failures={kind: len(items)})
        return _sort(items, results)

    def _bulk(self, actions: list[dict]):
        return async_streaming_bulk(
            self._es,
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
        if not out.shipped and not out.rejected:
            return
        try:
            await asyncio.wrap_future(self._outbox.mark(out.shipped, out.rejected))
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


def _sort(items: list[Item], results: list[tuple[bool, dict]]) -> Sorted:
    out = Sorted()
    for i, (row_id, action) in enumerate(items):
        if i >= len(results):  # no answer for it: try again
            out.retry.append((row_id, action))
            continue
        ok, info = results[i]
        item = next(iter(info.values()))
        decision, kind = classify(ok, item)
        if decision == RETRY:
            out.retry.append((row_id, action))
            out.failures[kind] = out.failures.get(kind, 0) + 1
        elif decision == REJECT:
            out.rejected.append((row_id, reason(item)))
            out.failures[kind] = out.failures.get(kind, 0) + 1
            log.warning(
                "Elasticsearch rejected a document; kept in the store, not retried",
                extra={"request_id": action["_id"], "reason": reason(item)},
            )
        else:
            out.shipped.append(row_id)
            out.duplicates += kind == "duplicate"
    return out
