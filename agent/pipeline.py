"""The bounded queue between the request path and everything that consumes records.

The request path only calls `submit()` (no I/O, no await). A background task drains
the queue in batches and hands each batch to every `Sink` in turn; a sink that fails
is counted and logged, and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent.record import RequestRecord

log = logging.getLogger("inferwatch.pipeline")
_STOP: RequestRecord = object()  # type: ignore[assignment]  # close()'s end-of-queue mark


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What a sink did with a batch: how many it accepted (durably or delivered)."""

    accepted: int
    error: str | None = None


@runtime_checkable
class Sink(Protocol):
    """A consumer of finished records, running off the request path."""

    name: str

    async def export(self, batch: Sequence[RequestRecord]) -> ExportResult:
        """Take a batch of records; must not raise for backend failures (keep or spill them)."""
        ...

    async def flush(self) -> None:
        """Push out anything buffered."""
        ...

    async def close(self) -> None:
        """Flush and release resources."""
        ...


class RecordPipeline:
    """Bounded in-memory queue of records plus the task that feeds the sinks."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        queue_size: int,
        batch_size: int,
        instruments: dict,
        max_bytes: int = 256 * 1024 * 1024,
    ):
        self._sinks = list(sinks)
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        # Count alone does not bound memory: a record with captured text can be megabytes.
        self._max_bytes, self._bytes = max_bytes, 0
        self._dropped = instruments["inferwatch_records_dropped_total"]
        self._failures = instruments["inferwatch_sink_export_failures_total"]
        # Known label values start at 0 (a first event at 1 is invisible to increase()).
        for reason in ("queue_full", "queue_bytes", "closed"):
            self._dropped.labels(reason)
        for sink in self._sinks:
            self._failures.labels(sink.name)
        instruments["inferwatch_records_queued"].set_function(self._queue.qsize)
        self._task: asyncio.Task | None = None
        self._closed = False

    @property
    def sinks(self) -> tuple[Sink, ...]:
        """The sinks, in the order each batch meets them."""
        return tuple(self._sinks)

    def sink_names(self) -> list[str]:
        """The sinks' names, in the order each batch meets them."""
        return [sink.name for sink in self._sinks]

    def submit(self, record: RequestRecord) -> bool:
        """Enqueue a record without waiting. Returns False (and counts it) when the queue is
        full, by count or by bytes."""
        if self._closed:  # after `close`: nothing would deliver it
            return self._drop(record, "closed")
        size = record.approx_bytes()
        if self._bytes + size > self._max_bytes:
            return self._drop(record, "queue_bytes")
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            return self._drop(record, "queue_full")
        self._bytes += size
        return True

    def _drop(self, record: RequestRecord, reason: str) -> bool:
        self._dropped.labels(reason).inc()
        log.error(
            "record dropped by the queue",
            extra={"request_id": record.request_id, "reason": reason},
        )
        return False

    def _taken(self, batch: list[RequestRecord]) -> None:
        self._bytes -= sum(r.approx_bytes() for r in batch if r is not _STOP)

    def start(self) -> None:
        """Start the background consumer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="record-pipeline")

    async def _run(self) -> None:
        # Batches are delivered in this task itself; `close` ends it with a sentinel rather
        # than a cancel, so a batch is never abandoned half-delivered. (A task and a shield
        # per batch cost ~9 us each time; with the cost engine's paced releases a batch is
        # often one record.)
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self._batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            self._taken(batch)
            stop = batch[-1] is _STOP  # nothing is queued after the sentinel
            if stop:
                batch.pop()
            if batch:
                await self._deliver(batch)
            if stop:
                return

    async def _deliver(self, batch: list[RequestRecord]) -> None:
        for sink in self._sinks:
            try:
                result = await sink.export(batch)
                if result.error:
                    self._failures.labels(sink.name).inc()
            except Exception:
                self._failures.labels(sink.name).inc()
                log.exception("sink export failed", extra={"sink": sink.name})

    async def drain(self) -> None:
        """Deliver everything queued so far (used at shutdown and by tests)."""
        batch: list[RequestRecord] = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        self._taken(batch)
        if batch:
            await self._deliver(batch)

    async def close(self) -> None:
        """Stop the consumer, deliver what is queued, then flush and close every sink."""
        self._closed = True  # from now on `submit` refuses: `_STOP` stays the last item
        if self._task is not None:
            if not self._task.done():
                await self._queue.put(_STOP)  # after every record submitted so far
                await self._task
            self._task = None
        await self.drain()
        for sink in self._sinks:
            try:
                await sink.close()
            except Exception:
                log.exception("sink close failed", extra={"sink": sink.name})


class MemorySink:
    """Keeps the last `limit` records in memory: for tests, and `/debug` inspection."""

    def __init__(self, limit: int = 10_000, name: str = "memory") -> None:
        self.name = name
        self.records: list[RequestRecord] = []
        self._limit = limit
        self.changed = asyncio.Event()

    async def export(self, batch: Sequence[RequestRecord]) -> ExportResult:
        self.records.extend(batch)
        del self.records[: -self._limit]
        self.changed.set()
        return ExportResult(accepted=len(batch))

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None
