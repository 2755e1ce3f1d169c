"""The store's periodic work on the writer thread: retention (age, size, disk bound) and
records whose cost never came (held entries, see `held`, stored as cost-lost rows: all
of them at start, since a killed agent held them; later those past
`store.pending_timeout_s`).

Failures (the database locked by another process, a full disk) are logged and counted,
and the pass is tried again at its next turn; the held entries stay until then.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import time

from agent.store import files, held, retention, schema
from agent.store.config import StoreConfig
from agent.store.errors import error_kind
from agent.store.inserts import RowWriter
from agent.store.stats import StoreStats

log = logging.getLogger("inferwatch.store")

_RETENTION_CATCH_UP_S = 0.5  # a pass that hit its chunk: the next one this soon
_DISK_LOG_EVERY_S = 60.0


class Housekeeping:
    """Schedules and runs retention and the recovery of held records."""

    def __init__(
        self, config: StoreConfig, stats: StoreStats, keep_unshipped: bool, rows: RowWriter
    ) -> None:
        self._c, self._stats, self._rows = config, stats, rows
        self._keep_unshipped = keep_unshipped
        self._next_retention = self._next_timeout = math.inf
        self._last_disk_log = -math.inf

    def start(self, conn: sqlite3.Connection, early: bool) -> None:
        """Store what a killed agent held as cost-lost rows (this one holds none yet: one
        agent per database); schedule the passes (the timeout pass only with `early`)."""
        self._guarded(conn, "store could not finalise records left held", self._restart)
        self._next_retention = time.monotonic()  # first pass right away
        if early:
            self._next_timeout = time.monotonic() + self._timeout_every_s()

    def due_in(self) -> float:
        """Seconds until the next pass (0: due)."""
        return max(0.0, min(self._next_retention, self._next_timeout) - time.monotonic())

    def run(self, conn: sqlite3.Connection) -> None:
        """The passes that are due."""
        now = time.monotonic()
        if now >= self._next_retention:
            self._next_retention = now + self._c.retention.check_interval_s
            self._guarded(conn, "store retention failed", self._retention)
        if now >= self._next_timeout:
            self._next_timeout = now + self._timeout_every_s()
            self._guarded(conn, "store could not finalise records held too long", self._timeout)

    def _guarded(self, conn: sqlite3.Connection, message: str, step) -> None:
        try:
            step(conn)
        except (sqlite3.Error, OSError) as err:  # rolled back (`RowWriter.transaction`)
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            self._stats.write_error(error_kind(err))
            log.error(message, extra={"error": str(err)})

    def _timeout_every_s(self) -> float:
        return min(10.0, self._c.pending_timeout_s / 4)

    def _restart(self, conn: sqlite3.Connection) -> None:
        with self._rows.transaction(conn):
            n = self._rows.insert(conn, held.without_row(conn), schema.COST_LOST)
            held.forget(conn)
        self._lost("restart", n)

    def _timeout(self, conn: sqlite3.Connection) -> None:
        wall = time.time() - self._c.pending_timeout_s
        with self._rows.transaction(conn):
            n = self._rows.insert(conn, held.older_than(conn, wall), schema.COST_LOST)
            held.forget(conn, wall)
        self._lost("timeout", n)

    def _lost(self, reason: str, n: int) -> None:
        if n:
            self._stats.cost_lost(reason, n)
            log.warning(
                "store rows finalised without their cost", extra={"rows": n, "reason": reason}
            )

    def _retention(self, conn: sqlite3.Connection) -> None:
        disk = (self._c.max_disk_bytes, self._sidecar_bytes)
        deleted = retention.apply(conn, self._c.retention, self._keep_unshipped, disk=disk)
        self._stats.retention(
            deleted.by_age, deleted.by_size, deleted.by_disk, deleted.unshipped_by_disk
        )
        if deleted.by_disk and time.monotonic() - self._last_disk_log >= _DISK_LOG_EVERY_S:
            self._last_disk_log = time.monotonic()
            log.warning(
                "store at its disk bound; oldest rows deleted",
                extra={
                    "deleted": deleted.by_disk,
                    "unshipped": deleted.unshipped_by_disk,
                    "max_disk_bytes": self._c.max_disk_bytes,
                },
            )
        if deleted.more:  # more to delete: come back soon, between batches of records
            self._next_retention = time.monotonic() + _RETENTION_CATCH_UP_S

    def _sidecar_bytes(self) -> int:
        """Bytes of SQLite's -wal and -shm (retention counts the database by its pages)."""
        db, total = self._c.path, 0
        for suffix in files.SQLITE_SUFFIXES[1:]:
            with contextlib.suppress(FileNotFoundError):  # they come and go
                total += db.with_name(db.name + suffix).stat().st_size
        return total
