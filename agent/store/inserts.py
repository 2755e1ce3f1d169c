"""Rows into `requests`, inside the writer's transactions: ship numbers, rollups, rejects.

Every row gets the next `ship_seq` (the order the shipper reads the outbox in). A
transaction that fails gives its numbers back, so the outbox has no gaps the shipper's
cursor would have to guess about. A record SQLite or orjson refuses (see `rejects`) goes to
the `rejects` table instead: the batch is retried record by record from a savepoint, so
only that failure pays for it and the rest of the batch commits.

Used by the writer thread only (not thread-safe).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator, Sequence

from agent.record import RequestRecord
from agent.store import rejects, rollups, rollups_sql, schema
from agent.store.rows import to_row
from agent.store.stats import StoreStats

log = logging.getLogger("inferwatch.store")

LAST_SEQ_SQL = "SELECT max(ship_seq) FROM requests WHERE ship_state = 0 AND ship_seq IS NOT NULL"


class RowWriter:
    """Inserts rows with their ship numbers; counts and logs what is refused."""

    def __init__(self, stats: StoreStats, rollups: bool = True) -> None:
        """`rollups` False skips the dashboard's rollups (only to measure what they cost)."""
        self._stats = stats
        self._rollups = rollups
        self._seq = 0  # the last `ship_seq` given
        self._refused: list[rejects.Reject] = []  # in the open transaction
        self._logged: set[str] = set()  # reject reasons logged once already

    def start(self, conn: sqlite3.Connection) -> None:
        """Go on from the outbox's highest number (its partial index answers)."""
        self._seq = conn.execute(LAST_SEQ_SQL).fetchone()[0] or 0

    @contextlib.contextmanager
    def transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; on any failure ROLLBACK, the numbers given back, and
        re-raise. Rejects are counted once committed."""
        seq, self._refused = self._seq, []
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            self._seq = seq
            with contextlib.suppress(sqlite3.Error):  # the error that got here matters
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise
        self._report(self._refused)

    def insert(
        self, conn: sqlite3.Connection, records: Sequence[RequestRecord], cost_status: str
    ) -> int:
        """Insert rows (inside `transaction`); returns how many went in (the others are
        in `rejects`)."""
        if not records:
            return 0
        seq = self._seq
        conn.execute("SAVEPOINT rows")
        try:
            conn.executemany(schema.INSERT_SQL, [self._row(r, cost_status) for r in records])
        except rejects.RECORD_ERRORS:
            self._seq = seq
            conn.execute("ROLLBACK TO rows")
            inserted = self._insert_each(conn, records, cost_status)
        else:
            inserted = list(records)
        conn.execute("RELEASE rows")
        self._roll_up(conn, inserted)
        return len(inserted)

    def _row(self, r: RequestRecord, cost_status: str) -> tuple:
        row = to_row(r, cost_status, self._seq + 1)
        self._seq += 1  # after `to_row`: a record it refuses takes no number
        return row

    def _insert_each(
        self, conn: sqlite3.Connection, records: Sequence[RequestRecord], cost_status: str
    ) -> list[RequestRecord]:
        # One statement each: a refused statement leaves the rows before it in place.
        inserted, refused = [], []
        for r in records:
            try:
                conn.execute(schema.INSERT_SQL, to_row(r, cost_status, self._seq + 1))
            except rejects.RECORD_ERRORS as err:
                refused.append(rejects.Reject.of(r, err))
            else:
                self._seq += 1
                inserted.append(r)
        rejects.insert(conn, refused)
        self._refused += refused
        return inserted

    def _roll_up(self, conn: sqlite3.Connection, inserted: list[RequestRecord]) -> None:
        if self._rollups and inserted:
            delta = rollups.aggregate(map(rollups.fact_of_record, inserted))
            rollups_sql.write(conn, delta)

    def _report(self, refused: list[rejects.Reject]) -> None:
        for r in refused:
            self._stats.rejected(r.reason)
            if r.reason not in self._logged:  # once per kind: a flood must not flood the log
                self._logged.add(r.reason)
                log.error(
                    "store refused a record; kept in the rejects table",
                    extra={"reason": r.reason, "error": r.error, "request_id": r.request_id},
                )
