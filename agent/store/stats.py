"""The store's metrics, behind small methods so the writer stays free of metric names."""

from __future__ import annotations

from collections.abc import Callable


class StoreStats:
    """Updates the `inferwatch_store_*` instruments. Callable from the store's writer thread
    while the event loop renders /metrics: a series first seen here (a new error kind) is
    added under its family's lock (the threading rule in agent/fastmetrics.py). Known
    reasons are created up front, so in practice the writer only increments."""

    def __init__(self, instruments: dict) -> None:
        self._written = instruments["inferwatch_store_records_written_total"]
        self._errors = instruments["inferwatch_store_write_errors_total"]
        self._pending = instruments["inferwatch_store_records_pending"]
        self._dropped = instruments["inferwatch_store_records_dropped_total"]
        self._retention = instruments["inferwatch_store_retention_deleted_total"]
        self._cost_lost = instruments["inferwatch_store_cost_lost_total"]
        self._rejected = instruments["inferwatch_store_records_rejected_total"]
        self._unshipped = instruments["inferwatch_store_unshipped_deleted_total"]
        # Every known reason starts at 0: a series that first appears at 1 hides its first
        # event from increase() and rate(), and a dashboard panel shows "No data" for "none".
        for counter, reasons in (
            (self._errors, ("locked", "disk_full", "io", "readonly", "other")),
            (self._dropped, ("memory_bound",)),
            (self._retention, ("age", "size", "disk_bound")),
            (self._cost_lost, ("restart", "timeout")),
            (self._rejected, ("duplicate", "unencodable", "invalid")),
        ):
            for reason in reasons:
                counter.labels(reason)

    def set_pending(self, fn: Callable[[], int]) -> None:
        """Read the number of records waiting in memory at scrape time."""
        self._pending.set_function(fn)

    def written(self, n: int) -> None:
        """`n` records were committed."""
        self._written.inc(n)

    def write_error(self, kind: str) -> None:
        """A write failed (locked, disk_full, io, readonly, other)."""
        self._errors.labels(kind).inc()

    def dropped(self, reason: str, n: int) -> None:
        """`n` records could not be kept."""
        self._dropped.labels(reason).inc(n)

    def retention(self, by_age: int, by_size: int, by_disk: int = 0, unshipped: int = 0) -> None:
        """Rows deleted by a retention pass (`unshipped`: of `by_disk`, rows Elasticsearch
        never acknowledged)."""
        if by_age:
            self._retention.labels("age").inc(by_age)
        if by_size:
            self._retention.labels("size").inc(by_size)
        if by_disk:
            self._retention.labels("disk_bound").inc(by_disk)
        if unshipped:
            self._unshipped.inc(unshipped)

    def cost_lost(self, reason: str, n: int) -> None:
        """`n` pending rows were finalised without their cost (restart, timeout)."""
        self._cost_lost.labels(reason).inc(n)

    def rejected(self, reason: str, n: int = 1) -> None:
        """`n` records were refused and kept in the rejects table (duplicate, unencodable,
        invalid)."""
        self._rejected.labels(reason).inc(n)
