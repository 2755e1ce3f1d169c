"""The shipper's metrics."""

from __future__ import annotations


class ShipStats:
    """Updates the `inferwatch_shipper_*` instruments, from the loop or a worker thread
    alike (the threading rule in agent/fastmetrics.py)."""

    def __init__(self, instruments: dict) -> None:
        self._lag = instruments["inferwatch_shipper_lag_seconds"]
        self._backlog = instruments["inferwatch_shipper_backlog_records"]
        self._docs = instruments["inferwatch_shipper_documents_total"]
        self._failures = instruments["inferwatch_shipper_failures_total"]
        self._dead = instruments["inferwatch_shipper_dead_letters_total"]

    def status(self, lag_s: float, backlog: int) -> None:
        """Age of the oldest unshipped record and how many wait."""
        self._lag.set(lag_s)
        self._backlog.set(backlog)

    def shipped(self, result: str, n: int) -> None:
        """`n` documents acknowledged (created, duplicate)."""
        if n:
            self._docs.labels(result).inc(n)

    def failed(self, error_type: str, n: int = 1) -> None:
        """`n` documents failed to ship this attempt."""
        if n:
            self._failures.labels(error_type).inc(n)

    def dead_letters(self, reason: str, n: int = 1) -> None:
        """`n` documents given up on, kept in the store's dead-letter table."""
        if n:
            self._dead.labels(reason).inc(n)
