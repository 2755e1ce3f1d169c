"""`SQLiteSink`: the pipeline's sink for the embedded store.

`export` only hands the batch to the writer thread (a list append under a lock); with
`durability: sync` it then awaits the commit, so the store acknowledges nothing it has
not written. SQLite is never called on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agent.pipeline import ExportResult
from agent.record import RequestRecord
from agent.store.writer import StoreWriter


class SQLiteSink:
    """A `Sink` writing records to the SQLite store through its `StoreWriter`."""

    name = "store"

    def __init__(self, writer: StoreWriter, sync: bool = False) -> None:
        self._writer = writer
        self._sync = sync

    async def export(self, batch: Sequence[RequestRecord]) -> ExportResult:
        """Queue the batch (and, in sync mode, wait for its commit)."""
        accepted, fut = self._writer.put(batch, wait=self._sync)
        error = None if accepted == len(batch) else "memory_bound"
        committed = await asyncio.wrap_future(fut) if fut is not None else not self._sync
        if not committed and self._writer.failing:
            error = error or "write_failed"  # kept in memory; the writer retries
        return ExportResult(accepted=accepted, error=error)

    async def flush(self) -> None:
        """Wait until everything queued so far has been tried."""
        await asyncio.wrap_future(self._writer.flush())

    async def close(self) -> None:
        """Commit what is pending and stop the writer thread."""
        await asyncio.to_thread(self._writer.close)
