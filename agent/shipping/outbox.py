"""The store seen as the Elasticsearch outbox: read unshipped rows, mark their outcome.

Reads use their own connection (WAL lets them run beside the writer); marks go through
the single writer thread. Every read blocks: call them from one worker thread at a time
(the shipper has its own single-thread executor); `mark` returns a future of the writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import Future

from agent.shipping.outcome import DeadLetter
from agent.store import schema
from agent.store.writer import StoreWriter

# Records the cost engine still holds are in the small `held` table, not yet rows: they
# wait to be shipped too (a scan of a few seconds' worth of records).
OLDEST_WAITING_SQL = "SELECT min(ended_at) FROM held"


class Outbox:
    """Unshipped rows of the store, oldest first."""

    def __init__(self, path: str, writer: StoreWriter, busy_timeout_ms: int = 2000) -> None:
        self._path = path
        self._writer = writer
        self._busy_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = schema.connect(self._path, self._busy_ms)
        return self._db

    def fetch(self, after_seq: int, limit: int) -> list[tuple[int, int, str, str, str]]:
        """Up to `limit` unshipped complete rows (final or cost-lost) with
        ship_seq > `after_seq`, in ship_seq order: (id, ship_seq, request_id, record JSON,
        cost_status)."""
        sql = (
            "SELECT id, ship_seq, request_id, record, cost_status FROM requests "
            "WHERE ship_state = 0 AND ship_seq > ? ORDER BY ship_seq LIMIT ?"
        )
        return self._conn().execute(sql, (after_seq, limit)).fetchall()

    def oldest_wall_time(self) -> float | None:
        """Wall time of the oldest record not yet shipped: a complete row (from a partial
        index), or a record still waiting for its cost (when it ended)."""
        complete = (
            "SELECT wall_time FROM requests WHERE ship_state = 0 AND ship_seq IS NOT NULL "
            "ORDER BY ship_seq LIMIT 1"
        )
        found = [self._one(sql) for sql in (complete, OLDEST_WAITING_SQL)]
        return min((t for t in found if t is not None), default=None)

    def backlog(self) -> int:
        """Records not yet shipped: complete rows plus those still waiting for their cost
        (a partial index and the small `held` table: call it now and then)."""
        complete = "SELECT count(*) FROM requests WHERE ship_state = 0 AND ship_seq IS NOT NULL"
        waiting = "SELECT count(*) FROM held"
        return self._one(complete) + self._one(waiting)

    def _one(self, sql: str):
        row = self._conn().execute(sql).fetchone()
        return row[0] if row else None

    def mark(self, shipped: Sequence[int], dead: Sequence[DeadLetter]) -> Future:
        """Record outcomes on the writer thread, in one transaction: rows shipped; rows
        given up on (marked rejected, with their document in `dead_letters`)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    f"UPDATE requests SET ship_state = {schema.SHIPPED} WHERE id = ?",
                    [(i,) for i in shipped],
                )
                conn.executemany(
                    f"UPDATE requests SET ship_state = {schema.REJECTED}, ship_error = ? WHERE id = ?",
                    [(f"{d.reason}: {d.error}", d.row_id) for d in dead],
                )
                conn.executemany(
                    "INSERT INTO dead_letters (at, row_id, request_id, reason, error, attempts, "
                    "document) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (now, d.row_id, d.request_id, d.reason, d.error, d.attempts, d.document)
                        for d in dead
                    ],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        return self._writer.submit(op)

    def close(self) -> None:
        """Close the read connection, if open."""
        if self._db is not None:
            self._db.close()
            self._db = None
