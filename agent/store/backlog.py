"""The records waiting for the store's writer thread, bounded in count and bytes, and the
callers waiting for their commit.

Not thread-safe: the writer calls it under its lock. The event loop adds records (a list
append); the thread takes a batch, and reports it committed or failed. A failed batch
stays at the head, so records are never lost while the database cannot be written (locked,
disk full), only held in memory up to the bounds; beyond them the caller counts drops.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future

from agent.record import RequestRecord

Entry = tuple[RequestRecord, bool]  # (record, final): final False for an early write


class Backlog:
    """Queued entries, oldest first."""

    def __init__(self, max_records: int, max_bytes: int) -> None:
        self._max_records, self._max_bytes = max_records, max_bytes
        self._entries: list[Entry] = []
        self._bytes = 0  # approx_bytes of the entries: a count alone does not bound memory
        self._waiters: list[tuple[int, Future]] = []  # (entries still to commit, future)
        # Arrival of the oldest entry not yet taken into a batch (None: none waits). A batch
        # under way does not count: entries that come while it is written start their own
        # flush interval (else, under steady load, every batch after the first was written
        # at once: many small commits instead of one per interval).
        self.first_at: float | None = None
        self._taken_at: float | None = None  # `first_at` of the batch being written

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def waited_on(self) -> bool:
        """A caller waits for a commit."""
        return bool(self._waiters)

    def add(self, records: Sequence[RequestRecord], final: bool) -> Sequence[RequestRecord]:
        """Queue the first records that fit the bounds; returns those."""
        room = max(0, self._max_records - len(self._entries))
        accepted = self._fit(records[:room] if len(records) > room else records)
        if accepted and self.first_at is None:
            self.first_at = time.monotonic()
        self._entries.extend((r, final) for r in accepted)
        return accepted

    def waiter(self) -> Future:
        """A future settled once every entry queued so far is committed (True) or its
        write failed (False)."""
        fut: Future = Future()
        self._waiters.append((len(self._entries), fut))
        return fut

    def take(self, most: int) -> list[Entry]:
        """The next batch (left in place until `committed`)."""
        batch = self._entries[:most]
        self._taken_at = self.first_at
        if len(batch) == len(self._entries):  # all taken: the next entry starts anew
            self.first_at = None
        return batch

    def committed(self, n: int) -> list[Future]:
        """The first `n` entries are written: drop them; returns the waiters now done."""
        self._bytes -= sum(r.approx_bytes() for r, _ in self._entries[:n])
        del self._entries[:n]
        self._taken_at = None
        done = [f for left, f in self._waiters if left <= n]
        self._waiters = [(left - n, f) for left, f in self._waiters if left > n]
        return done

    def failed(self) -> list[Future]:
        """The batch was not written: it is the oldest again; returns every waiter (they
        are released: the pipeline must move on while the records are held)."""
        self.first_at, self._taken_at = self._taken_at, None
        waiters, self._waiters = self._waiters, []
        return [f for _, f in waiters]

    def _fit(self, records: Sequence[RequestRecord]) -> Sequence[RequestRecord]:
        """The first records that fit under the byte bound (counted in)."""
        total = self._bytes
        for i, r in enumerate(records):
            size = r.approx_bytes()
            if total + size > self._max_bytes:
                self._bytes = total
                return records[:i]
            total += size
        self._bytes = total
        return records
