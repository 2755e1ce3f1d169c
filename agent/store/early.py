"""The store's early write: a stage at the head of the record path, used when a later
stage (the cost engine) holds records for seconds. The record is queued for the store the
moment its request ends, so an agent killed while the record is held loses nothing: at
the next start the store finds it without its costed version and keeps it as cost-lost.
"""

from __future__ import annotations

from agent.record import RequestRecord
from agent.recordpath import Stage
from agent.store.writer import StoreWriter


class StoreEarly(Stage):
    """`writer.put_early(record)` (a list append under a lock, no I/O), then pass it on."""

    name = "store.early"

    def __init__(self, writer: StoreWriter) -> None:
        super().__init__()
        self._writer = writer

    def process(self, record: RequestRecord) -> None:
        """Queue the record's early row, then pass the record on unchanged."""
        self._writer.put_early(record)
        self.emit(record)
