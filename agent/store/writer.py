"""The store's single writer: a thread that commits queued records in batches.

The event loop only appends to a list under a lock (`backlog`). The thread waits up to one
flush interval after the first record arrives (or not at all when a caller waits for the
commit, or in `sync` durability), then writes what is queued in one transaction. When the
database cannot be written (disk full, locked by another process) the records stay in
memory, up to a bound, and the failure is logged and counted; beyond the bound records are
counted as dropped. Other writes (outbox marks, `housekeeping`) run on the same thread, so
SQLite never sees two writers of ours competing for the lock.

With `early` on (a cost engine holds records for seconds before they reach the pipeline),
`put_early` queues each record the moment its request ends and it is kept in the `held`
table; its costed version, which later comes through `put`, is inserted as a row and its
held entry deleted, in one transaction (see `held`, and `housekeeping` for those whose
cost never comes).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError

from agent.record import RequestRecord
from agent.store import files, held, rejects, schema
from agent.store.backlog import Backlog, Entry
from agent.store.config import StoreConfig
from agent.store.errors import error_kind
from agent.store.housekeeping import Housekeeping
from agent.store.inserts import RowWriter
from agent.store.stats import StoreStats

log = logging.getLogger("inferwatch.store")
# What a batch transaction may raise: the database, the disk, or a record SQLite refuses.
_WRITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, *rejects.RECORD_ERRORS)

_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.05, 2.0
Op = Callable[[sqlite3.Connection], object]


def _settle(fut: Future, result: object = None, error: BaseException | None = None) -> None:
    # A caller may have given up (its asyncio task was cancelled): the write still counts.
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


class StoreWriter:
    """Owns the write connection and the thread that uses it."""

    def __init__(
        self,
        config: StoreConfig,
        stats: StoreStats,
        keep_unshipped: bool,
        early: bool = False,
        rollups: bool = True,
    ) -> None:
        """`keep_unshipped`: retention by age and size spares the outbox (shipping is on).
        `early`: `put_early` is used (a cost engine holds records). `rollups` False skips
        the dashboard's rollups (only to measure what they cost: bench/store_write.py)."""
        self._c, self._stats, self._early = config, stats, early
        self._eager = config.durability == "sync"  # commit at once, no batching interval
        self._rows = RowWriter(stats, rollups)
        self._house = Housekeeping(config, stats, keep_unshipped, self._rows)
        self._cond = threading.Condition()
        self._backlog = Backlog(config.max_pending_records, config.max_pending_bytes)
        self._ops: list[tuple[Op, Future]] = []
        self._stopping = False
        self._failures = 0
        self._drops_logged = float("-inf")
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        stats.set_pending(lambda: len(self._backlog))

    # ---- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Open (creating and migrating) the database, store what a killed agent held as
        cost-lost rows, and start the thread. Blocking."""
        files.private_dir(self._c.dir)
        files.private_database(self._c.path)
        self._conn = schema.connect(str(self._c.path), self._c.busy_timeout_ms, self._c.fsync)
        schema.migrate(self._conn)
        self._rows.start(self._conn)
        self._house.start(self._conn, self._early)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Commit what is pending (one last try), stop the thread, close the connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
        if len(self._backlog):
            log.error("store closed with records not written", extra={"count": len(self._backlog)})

    # ---- called from the event loop (never blocks on I/O) ---------------------------

    @property
    def failing(self) -> bool:
        """True while the last write failed (records wait in memory)."""
        return self._failures > 0

    def put(self, batch: Sequence[RequestRecord], wait: bool = False) -> tuple[int, Future | None]:
        """Queue records; returns (accepted, future resolved with True once committed or
        False when the write failed and the records wait in memory). Future only if `wait`
        (and no write is failing: then nobody waits, the pipeline must keep moving)."""
        with self._cond:
            was = len(self._backlog)
            accepted = self._backlog.add(batch, final=True)
            fut = self._backlog.waiter() if wait and accepted and not self._failures else None
            # Wake the thread only when it has something new to do (a first record starts
            # its flush interval, a full batch or a waiter ends it).
            if not was or fut is not None or self._eager or self._full():
                self._cond.notify()
        if len(accepted) < len(batch):
            self._dropped(len(batch) - len(accepted))
        return len(accepted), fut

    def put_early(self, record: RequestRecord) -> None:
        """Queue a record as its request ends, before its cost is known (O(1), no I/O).
        At the memory bound it is skipped: its final version is inserted when it comes."""
        with self._cond:
            if self._backlog.add((record,), final=False) and (
                self._eager or len(self._backlog) == 1 or self._full()
            ):
                self._cond.notify()

    def submit(self, op: Op) -> Future:
        """Run `op(conn)` on the writer thread (it manages its own transaction)."""
        fut: Future = Future()
        with self._cond:
            self._ops.append((op, fut))
            self._cond.notify()
        return fut

    def flush(self) -> Future:
        """A future resolved once everything queued so far has been tried (True when
        committed, False when the write failed and the records wait in memory)."""
        with self._cond:
            if len(self._backlog):
                fut = self._backlog.waiter()
            else:
                fut = Future()
                self._ops.append((lambda conn: True, fut))
            self._cond.notify()
        return fut

    def _full(self) -> bool:
        return len(self._backlog) >= self._c.max_batch

    def _dropped(self, n: int) -> None:
        self._stats.dropped("memory_bound", n)
        now = time.monotonic()
        if now - self._drops_logged >= 1.0:  # a flood of drops must not flood the log
            self._drops_logged = now
            log.error(
                "store memory bound reached; records dropped",
                extra={"dropped": n, "max_pending_records": self._c.max_pending_records},
            )

    # ---- the thread -----------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        """The write connection (the thread runs only once `start` opened it)."""
        if self._conn is None:
            raise RuntimeError("the store writer is not started")
        return self._conn

    def _run(self) -> None:
        while True:
            try:
                if self._cycle():
                    return
            except Exception:  # a bug must not end the writer: the agent keeps serving
                log.exception("store writer failed; going on")
                with contextlib.suppress(sqlite3.Error):  # never leave a transaction open
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                self._stats.write_error("other")
                self._failures += 1
                self._backoff()

    def _cycle(self) -> bool:
        """One round: wait, write a batch, run other writes. True when the thread should end."""
        with self._cond:
            self._wait_for_work()
            if self._stopping and not len(self._backlog) and not self._ops:
                return True
            batch, ops = self._backlog.take(self._c.max_batch), self._ops
            self._ops = []
        ok = self._write(batch) if batch else True
        self._run_ops(ops)
        self._house.run(self._db)
        if not ok:
            self._backoff()
        # When stopping, one last try that failed ends it: close() reports the loss.
        return self._stopping and not ok

    def _wait_for_work(self) -> None:
        while not (len(self._backlog) or self._ops or self._stopping):
            self._cond.wait(self._house.due_in())
            if self._house.due_in() <= 0:
                return
        # Hold records back for up to one interval to batch them, unless someone waits.
        while len(self._backlog) and not (
            self._ops or self._backlog.waited_on or self._stopping or self._eager
        ):
            left = (self._backlog.first_at or 0.0) + self._c.flush_interval_s - time.monotonic()
            if left <= 0 or self._full():
                return
            self._cond.wait(left)

    def _write(self, batch: list[Entry]) -> bool:
        """One transaction for the batch: early records held, final ones inserted as rows
        (their held entries deleted). True when committed."""
        conn = self._db
        finals = [r for r, final in batch if final]
        try:
            with self._rows.transaction(conn):
                if self._early:  # early and final in one batch: the row only
                    ids = {r.request_id for r in finals}
                    held.add(
                        conn, (r for r, final in batch if not final and r.request_id not in ids)
                    )
                inserted = self._rows.insert(conn, finals, schema.COST_FINAL)
                if self._early:
                    held.done(conn, (r.request_id for r in finals))
        except _WRITE_ERRORS as err:
            self._write_failed(err, len(batch))
            return False
        self._committed(len(batch), inserted)
        return True

    def _committed(self, n: int, inserted: int) -> None:
        with self._cond:
            done = self._backlog.committed(n)
            self._failures = 0
        self._stats.written(inserted)
        for f in done:
            _settle(f, True)

    def _write_failed(self, err: BaseException, n: int) -> None:
        kind = error_kind(err) if isinstance(err, sqlite3.Error | OSError) else "other"
        self._stats.write_error(kind)
        self._failures += 1
        log.error(
            "store write failed; records kept in memory",
            extra={"error_type": kind, "error": str(err), "records": n, "attempt": self._failures},
        )
        with self._cond:
            waiters = self._backlog.failed()
        for f in waiters:
            _settle(f, False)

    def _run_ops(self, ops: list[tuple[Op, Future]]) -> None:
        for op, fut in ops:
            try:
                result = op(self._db)
            except Exception as err:  # an op's failure (or bug) must not kill the writer
                with contextlib.suppress(sqlite3.Error):
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                if isinstance(err, sqlite3.Error):
                    self._stats.write_error(error_kind(err))
                else:
                    log.exception("store operation failed")
                _settle(fut, error=err)
            else:
                _settle(fut, result)

    def _backoff(self) -> None:
        delay = min(_BACKOFF_MAX_S, _BACKOFF_MIN_S * 2 ** min(self._failures, 10))
        with self._cond:
            if not self._stopping:
                self._cond.wait(delay)
